@hosts
Feature: Layer 2 node roles and Defense in Depth - the blades themselves
  Design, Layer 2: blade001-003 run the control plane with embedded etcd and take workloads, blade004-005
  are dedicated workers; k3s runs Cilium in place of flannel, etcd is stored on a 10GiB NVMe partition,
  and each node reserves 1GB RAM for the system and Kubernetes. Defense in Depth: what runs on a blade is
  the designed configuration, not only what its files say; hosts take SSH keys only and no root login,
  keep their kernel defaults, their clocks, and AppArmor confinement.

  Background:
    Given the site file

  Scenario: Control-plane blades run k3s with the designed configuration
    Given every blade with the role "control-plane"
    Then each runs k3s with the designed CIDRs, node IP, secrets encryption and disabled components

  @running
  Scenario: etcd members keep their data on a dedicated fast disk
    Given every blade with the role "etcd"
    Then each keeps etcd's data on a dedicated non-rotational mount of the designed size

  Scenario: Every blade's kubelet runs as designed
    Given every blade
    Then each kubelet runs with the blade's node IP and the designed reserved resources

  @running
  Scenario: Every blade is hardened
    Given every blade
    Then each sshd accepts keys only and refuses root
    And each kernel keeps the defaults the kubelet protects
    And each clock is synchronised
    And each blade runs AppArmor
