@cluster
Feature: Pod Security - Defense in Depth, Kubernetes and Application layers
  Design, Security / Defense in Depth: Layer 3 Kubernetes runs Pod Security Admission in Restricted
  mode; Layer 4 Application asks for non-root containers, read-only root filesystems, capability
  dropping and AppArmor/seccomp profiles. Every Pod and pod template outside the designed exemptions
  is judged field by field (Kubernetes v1.32 Pod Security Standards), and the API server is asked
  whether it really refuses what the standard forbids.

  Background:
    Given the site file
    And every Pod and pod template outside the exempt namespaces

  Scenario: Every workload meets the designed Pod Security level
    Then every Pod and pod template meets the designed Pod Security level

  Scenario: Containers run as non-root users
    Then every container must run as a non-root user and never as UID 0

  Scenario: Containers run with read-only root filesystems
    Then every container's root filesystem is read-only

  Scenario: Containers drop every capability
    Then every container drops ALL capabilities and adds none beyond NET_BIND_SERVICE

  Scenario: Containers run under seccomp and AppArmor profiles
    Then every container runs under the RuntimeDefault or a Localhost seccomp profile
    And no container or pod sets an unconfined AppArmor profile

  @probe
  Scenario: The API server refuses what the standard forbids
    Then in every namespace outside the exemptions a pod violating each check is refused and a compliant pod is admitted
