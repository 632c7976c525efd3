@cluster @etcd
Feature: High Availability and Backup - etcd
  Design, Scalability / High Availability: 3 master nodes for control plane HA, 3 etcd members
  (quorum: 2/3). Disaster Recovery / Scenario 1: the cluster continues with 2/3 masters.
  Backup Strategy: etcd snapshots (daily); Scenario 3: restore etcd from backup.

  Background:
    Given the site file

  @running
  Scenario: The etcd members are the control-plane blades and all of them are healthy
    Given the running etcd cluster
    Then its members are the site's etcd blades with their peer URLs
    And every member answers and reports itself healthy
    And every member names the same single leader and the same cluster

  @running
  Scenario: A quorum of etcd members keeps the API writable
    Given the running etcd cluster
    Then a majority of the members answers and agrees on the leader
    And no member has raised an alarm

  @running @hosts
  Scenario: Every member runs with the designed timings and has room to grow
    Given the running etcd cluster
    And the etcd configuration every member started with
    Then every member runs with the designed heartbeat interval and election timeout
    And every member's database is within the designed size and below its quota

  @hosts
  Scenario: Every server snapshots etcd at least daily
    Given the k3s configuration of every etcd member
    Then k3s takes a snapshot on a schedule at least as frequent as the designed maximum age

  @running @hosts
  Scenario: Every server holds a recent and intact etcd snapshot
    Given the etcd snapshots of every etcd member
    Then the newest snapshot on every server is younger than the designed maximum age
    And the newest snapshot on every server is intact
