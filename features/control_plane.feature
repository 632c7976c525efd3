@cluster @running
Feature: High Availability - the control plane
  Design, Scalability / High Availability and Layer 2 (K3s topology): three control-plane blades each run
  an API server backed by the embedded etcd, so losing one server leaves the cluster manageable; the
  controller-manager and the scheduler are leader-elected among them.

  Background:
    Given the site file

  Scenario: Every server answers on its own address, with etcd behind it
    When each control-plane blade's API server is asked on its own address
    Then every server is ready and live with etcd's check passing
    And every server's certificate covers the cluster's names and its own address
    And every server runs the designed Kubernetes version

  Scenario: The controllers are led from a server that renews its lease
    Given the cluster's leases
    Then the controller-manager and the scheduler each have a leader on a control-plane blade
