@network
Feature: Layer 1 - network segmentation and firewall strategy
  Design, Layer 1: four segmented networks behind the MikroTik router, a default-deny firewall with
  explicit allow rules (Management -> All, Home -> Cluster:80,443, WireGuard -> Cluster + Pod/Service
  CIDRs, Cluster -> Internet) and no inbound access to management.

  Background:
    Given the site file

  Scenario Outline: The firewall strategy as the site file states it
    When the firewall policy is expanded into the flow matrix
    Then a <protocol> flow from <source> to <destination> on port <port> is <verdict>

    Examples:
      | source     | destination | protocol | port | verdict |
      | management | cluster     | tcp      | 22   | allowed |
      | management | home        | tcp      | 445  | allowed |
      | home       | cluster     | tcp      | 80   | allowed |
      | home       | cluster     | tcp      | 443  | allowed |
      | home       | cluster     | tcp      | 22   | denied  |
      | home       | cluster     | udp      | 53   | denied  |
      | wireguard  | cluster     | tcp      | 6443 | allowed |
      | wireguard  | pods        | udp      | 53   | allowed |
      | wireguard  | services    | tcp      | 443  | allowed |
      | wireguard  | home        | tcp      | 443  | denied  |
      | wireguard  | management  | tcp      | 22   | denied  |
      | cluster    | internet    | tcp      | 443  | allowed |
      | cluster    | home        | tcp      | 443  | denied  |
      | home       | management  | tcp      | 22   | denied  |
      | internet   | cluster     | tcp      | 443  | denied  |

  @router
  Scenario: The router is the gateway of every segment
    Given the router's configuration
    Then the router holds the gateway address of every segment on its interface

  @router
  Scenario: Only traffic towards the internet is masqueraded
    Given the router's configuration
    Then source NAT masquerades only towards the WAN
