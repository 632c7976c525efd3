@site
Feature: Site file consistency
  The site file states the architecture design as data. Before anything is checked against the
  router or the cluster, the site file itself must be coherent: every statement traceable to the
  design, the firewall policy decisive, the control plane able to keep quorum.

  Background:
    Given the site file

  Scenario: Every design statement is traceable to the design document
    Then every design statement carries a unique control id and a known design section

  Scenario: The firewall policy decides every flow exactly once
    When the firewall policy is expanded into the flow matrix
    Then every segment pair has exactly one verdict for every protocol and port

  Scenario: etcd keeps quorum when one member fails
    Then the etcd quorum is a majority of an odd number of members
    And the cluster tolerates the loss of 1 etcd member

  Scenario: Every blade lives in the cluster network
    Then every blade address lies inside the "cluster" segment
    And the MetalLB pool lies inside the "cluster" segment and holds no blade address
