@cluster
Feature: Layer 2 - Kubernetes configuration
  Design, Layer 2 and Defense in Depth / Kubernetes: a k3s HA control plane on blade001-003 with
  embedded etcd, Pod Security Admission in Restricted mode, secrets encrypted at rest, audit logging.

  Background:
    Given the site file

  Scenario: No namespace weakens Pod Security outside the designed exemptions
    Given the cluster's namespaces
    Then every namespace that is not exempt enforces the designed Pod Security level

  @hosts
  Scenario: Every server renders the designed k3s configuration
    Given the k3s configuration of every control-plane blade
    Then secrets are encrypted at rest and audit logging is on
