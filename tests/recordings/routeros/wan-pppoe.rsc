# 2026-11-28 10:41:07 by RouterOS 7.16.2
# software id = 7KQ2-XW1N
#
# model = S53UG+5HaxD2HaxD
# serial number = HJ20A7K3QWE
/interface bridge
add admin-mac=48:A9:8A:5C:21:0E auto-mac=no comment=\
    "Home Network - 192.168.88.0/24" name=bridge-home
add comment="Homelab K3s Cluster - 192.168.77.0/24" name=bridge-homelab
/interface pppoe-client
add add-default-route=yes disabled=no interface=ether1 name=pppoe-out1 \
    use-peer-dns=yes user=zg-0042@fiber.example
/interface wireguard
add listen-port=51820 name=wireguard1
/interface list
add comment=defconf name=WAN
add comment=defconf name=LAN
/interface lte apn
set [ find default=yes ] ip-type=ipv4 use-network-apn=no
/interface bridge port
add bridge=bridge-homelab comment="Zyxel switch \E2\86\92 blade001-004" \
    interface=ether2
add bridge=bridge-homelab comment="Direct to blade005" interface=ether3
add bridge=bridge-home interface=ether4
/ip neighbor discovery-settings
set discover-interface-list=LAN
/interface list member
add interface=bridge-home list=LAN
add interface=bridge-homelab list=LAN
add interface=ether5 list=LAN
add interface=wireguard1 list=LAN
add interface=pppoe-out1 list=WAN
/interface wireguard peers
add allowed-address=192.168.216.2/32 comment=laptop interface=wireguard1 \
    public-key="dGVzdC1wZWVyLWtleS1ub3QtYS1yZWFsLWtleS0wMDA9"
/ip address
add address=192.168.77.1/24 comment="Homelab gateway" interface=\
    bridge-homelab network=192.168.77.0
add address=192.168.88.1/24 comment="Home gateway" interface=bridge-home \
    network=192.168.88.0
add address=192.168.100.1/24 comment="Management gateway" interface=ether5 \
    network=192.168.100.0
add address=192.168.216.1/24 comment="WireGuard server" interface=wireguard1 \
    network=192.168.216.0
/ip dns
set allow-remote-requests=yes servers=8.8.8.8,1.1.1.1
/ip firewall address-list
add address=192.168.77.0/24 list=vpn-allowed
add address=10.42.0.0/16 list=vpn-allowed
add address=10.43.0.0/16 list=vpn-allowed
/ip firewall filter
add action=accept chain=input comment=\
    "defconf: accept established,related,untracked" connection-state=\
    established,related,untracked
add action=drop chain=input comment="defconf: drop invalid" connection-state=\
    invalid
add action=accept chain=input comment="defconf: accept ICMP" protocol=icmp
add action=accept chain=input comment="WireGuard endpoint" dst-port=51820 \
    in-interface-list=WAN protocol=udp
add action=drop chain=input comment="defconf: drop all not coming from LAN" \
    in-interface-list=!LAN
add action=fasttrack-connection chain=forward comment="defconf: fasttrack" \
    connection-state=established,related hw-offload=yes
add action=accept chain=forward comment=\
    "defconf: accept established,related, untracked" connection-state=\
    established,related,untracked
add action=drop chain=forward comment="defconf: drop invalid" \
    connection-state=invalid
add action=drop chain=forward comment=\
    "defconf: drop all from WAN not DSTNATed" connection-nat-state=!dstnat \
    connection-state=new in-interface-list=WAN
add action=accept chain=forward comment="Allow Mgmt \E2\86\92 All" \
    src-address=192.168.100.0/24
add action=accept chain=forward comment=\
    "Allow Home \E2\86\92 Homelab (HTTP,HTTPS)" dst-address=192.168.77.0/24 \
    dst-port=80,443 protocol=tcp src-address=192.168.88.0/24
add action=accept chain=forward comment="Allow Homelab \E2\86\92 Internet" \
    out-interface-list=WAN src-address=192.168.77.0/24
add action=accept chain=forward comment="Allow Home \E2\86\92 Internet" \
    out-interface-list=WAN src-address=192.168.88.0/24
add action=accept chain=forward comment=\
    "Allow VPN \E2\86\92 cluster, pods, services" dst-address-list=vpn-allowed \
    src-address=192.168.216.0/24
add action=drop chain=forward comment="Drop all remaining"
/ip firewall nat
add action=masquerade chain=srcnat comment="defconf: masquerade" \
    ipsec-policy=out,none out-interface-list=WAN
/ip service
set telnet disabled=yes
set ftp disabled=yes
set www address=192.168.77.0/24
set ssh address=192.168.100.0/24
set www-ssl address=192.168.100.0/24 certificate=zengarden-router disabled=\
    no
set api address=192.168.100.0/24
set winbox address=192.168.100.0/24
set api-ssl address=192.168.100.0/24 certificate=zengarden-router
/system clock
set time-zone-name=Europe/Berlin
/system identity
set name=zengarden-router
/tool mac-server
set allowed-interface-list=LAN
/tool mac-server mac-winbox
set allowed-interface-list=LAN
