@cluster
Feature: Trust Boundary 3 and Defense in Depth - Kubernetes access
  Design, Security: behind the router (Trust Boundary 1) and the ingress controller (Trust Boundary 2),
  network policies are the third boundary (Cilium NetworkPolicy, pod-to-pod restrictions, namespace
  isolation); Defense in Depth layer 3 adds RBAC with OIDC: users come from Google OIDC, nobody is
  anonymous, and cluster-wide power stays with the few the site names.

  Background:
    Given the site file

  Scenario: Every namespace is isolated unless the design exempts it
    Given the cluster's namespaces and network policies
    Then every namespace that is not exempt denies ingress by default
    And every namespace allows only the traffic the site lists

  Scenario: Cluster-wide power stays with the designed administrators
    Given the cluster's RBAC roles and bindings
    Then cluster-admin is bound only to the subjects the site lists
    And no service account outside the exemptions holds a wildcard role

  Scenario: Every API server takes its users from the designed OIDC issuer and none anonymously
    Given the kube-apiserver each control-plane blade runs now
    Then anonymous authentication is off on every server
    And users come from the site's OIDC issuer and claims

  @probe
  Scenario: An unauthenticated request is turned away by every API server
    When an unauthenticated client asks each API server for /api
    Then every API server answers 401 Unauthorized
