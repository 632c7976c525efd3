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

  @router
  Scenario Outline: The network table's access rules, in the router's configuration
    Given the router's firewall
    Then the router's configuration <verdict> <protocol> connections from <source> to <destination> on port <port>

    Examples:
      | source     | destination | protocol | port | verdict |
      | cluster    | internet    | tcp      | 443  | accepts |
      | cluster    | home        | tcp      | 22   | drops   |
      | home       | internet    | tcp      | 443  | accepts |
      | home       | cluster     | tcp      | 443  | accepts |
      | home       | cluster     | tcp      | 22   | drops   |
      | home       | cluster     | udp      | 53   | drops   |
      | management | cluster     | tcp      | 22   | accepts |
      | management | home        | udp      | 161  | accepts |
      | home       | management  | tcp      | 22   | drops   |
      | wireguard  | cluster     | tcp      | 6443 | accepts |
      | wireguard  | pods        | udp      | 53   | accepts |
      | wireguard  | services    | tcp      | 443  | accepts |
      | wireguard  | home        | tcp      | 443  | drops   |
      | wireguard  | management  | tcp      | 22   | drops   |
      | internet   | cluster     | tcp      | 443  | drops   |

  @router
  Scenario: Default deny-all with explicit allow rules, over every segment pair and port
    Given the router's firewall
    Then every flow through the router is decided as the flow matrix says

  @router
  Scenario: Management - no inbound access allowed
    Given the router's firewall
    Then no segment can open a connection into "management"

  @router
  Scenario: Nothing from the internet reaches inside
    Given the router's firewall
    Then new connections from the internet that were not destination-NATed are dropped

  @probe
  Scenario Outline: Real packets follow the access rules
    Given a vantage point in every segment
    When <source> opens a <protocol> connection to <destination> on port <port>
    Then the connection is <result>

    Examples:
      | source     | destination | protocol | port | result  |
      | home       | cluster     | tcp      | 443  | reached |
      | home       | cluster     | tcp      | 22   | stopped |
      | cluster    | home        | tcp      | 80   | stopped |
      | cluster    | internet    | tcp      | 443  | reached |
      | management | home        | tcp      | 22   | reached |
      | home       | management  | udp      | 53   | stopped |
      | wireguard  | pods        | tcp      | 443  | reached |
      | wireguard  | home        | tcp      | 443  | stopped |
      | internet   | cluster     | tcp      | 443  | stopped |
