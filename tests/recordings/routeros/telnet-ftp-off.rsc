# 2026-11-28 10:02:41 by RouterOS 7.16.2
# software id = 7KQ2-XW1N
#
# model = S53UG+5HaxD2HaxD
# serial number = HGZ09R8KXQ1
/interface bridge
add comment="Home Network - 192.168.88.0/24" name=bridge-home
add comment="Homelab K3s Cluster - 192.168.77.0/24" name=bridge-homelab
/interface wireguard
add listen-port=51820 name=wireguard1
/interface list
add comment="Local networks" name=LAN
add comment="Internet-facing interfaces" name=WAN
/interface bridge port
add bridge=bridge-homelab comment="Zyxel switch \E2\86\92 blade001-004" \
    interface=ether2
add bridge=bridge-homelab comment="Direct to blade005" interface=ether3
add bridge=bridge-home interface=ether4
/interface list member
add interface=bridge-home list=LAN
add interface=bridge-homelab list=LAN
add interface=ether5 list=LAN
add interface=wireguard1 list=LAN
add interface=ether1 list=WAN
/interface wireguard peers
add allowed-address=192.168.216.2/32 comment=laptop interface=wireguard1 \
    public-key="dGVzdC1wZWVyLWtleS1ub3QtYS1yZWFsLWtleS0wMDA9"
/ip address
add address=192.168.77.1/24 comment="Homelab gateway" interface=bridge-homelab \
    network=192.168.77.0
add address=192.168.88.1/24 comment="Home gateway" interface=bridge-home \
    network=192.168.88.0
add address=192.168.100.1/24 comment="Management gateway" interface=ether5 \
    network=192.168.100.0
add address=192.168.216.1/24 comment="WireGuard server" interface=wireguard1 \
    network=192.168.216.0
/ip dns
set allow-remote-requests=yes servers=8.8.8.8,1.1.1.1
/ip dns static
add address=192.168.77.170 name=blade001.zengarden.space
add address=192.168.77.171 name=blade002.zengarden.space
add address=192.168.77.172 name=blade003.zengarden.space
add address=192.168.77.173 name=blade004.zengarden.space
add address=192.168.77.174 name=blade005.zengarden.space
add address=192.168.77.200 comment="Managed by ExternalDNS" \
    name=argocd.homelab.int.zengarden.space ttl=30m
add address=192.168.77.205 comment="Managed by ExternalDNS" \
    name=gitea.homelab.int.zengarden.space ttl=30m
add address=192.168.77.200 comment="Managed by ExternalDNS" \
    name=metabase.homelab.int.zengarden.space ttl=30m
add address=192.168.77.200 comment="Managed by ExternalDNS" \
    name=grafana.homelab.int.zengarden.space ttl=30m
add address=192.168.77.200 comment="Managed by ExternalDNS" \
    name=alerts.homelab.int.zengarden.space ttl=30m
add address=192.168.77.200 comment="Managed by ExternalDNS" \
    name=kagent.homelab.int.zengarden.space ttl=30m
add address=192.168.77.170 name=mikrotik-proxy.homelab.int.zengarden.space
add address=192.168.77.200 name=kubernetes.homelab.int.zengarden.space
/ip firewall address-list
add address=192.168.77.0/24 list=vpn-allowed
add address=10.42.0.0/16 list=vpn-allowed
add address=10.43.0.0/16 list=vpn-allowed
/ip firewall filter
add action=accept chain=input connection-state=established,related,untracked
add action=drop chain=input connection-state=invalid
add action=accept chain=input protocol=icmp
add action=accept chain=input in-interface-list=LAN
add action=drop chain=input
add action=fasttrack-connection chain=forward \
    connection-state=established,related hw-offload=yes
add action=accept chain=forward connection-state=established,related,untracked
add action=drop chain=forward connection-state=invalid
add action=drop chain=forward connection-nat-state=!dstnat \
    connection-state=new in-interface-list=WAN
add action=accept chain=forward comment="Allow Mgmt \E2\86\92 All" \
    src-address=192.168.100.0/24
add action=accept chain=forward \
    comment="Allow Home \E2\86\92 Homelab (SSH,HTTP,HTTPS)" \
    dst-address=192.168.77.0/24 dst-port=22,80,443 protocol=tcp \
    src-address=192.168.88.0/24
add action=drop chain=forward comment="Block Home \E2\86\92 Homelab (other)" \
    dst-address=192.168.77.0/24 src-address=192.168.88.0/24
add action=drop chain=forward comment="Block Homelab \E2\86\92 Home" \
    dst-address=192.168.88.0/24 src-address=192.168.77.0/24
add action=accept chain=forward comment="Allow Homelab \E2\86\92 Internet" \
    out-interface-list=WAN src-address=192.168.77.0/24
add action=accept chain=forward comment="Allow Home \E2\86\92 Internet" \
    out-interface-list=WAN src-address=192.168.88.0/24
add action=drop chain=forward comment="Drop back-to-home VPN \E2\86\92 LAN" \
    dst-address-list=!vpn-allowed src-address=192.168.216.0/24
add action=accept chain=forward \
    comment="Allow VPN \E2\86\92 cluster, pods, services" \
    dst-address-list=vpn-allowed src-address=192.168.216.0/24
add action=drop chain=forward comment="Drop all remaining"
/ip firewall nat
add action=masquerade chain=srcnat comment="Masquerade to Internet" \
    out-interface-list=WAN
/ip service
set telnet disabled=yes
set ftp disabled=yes
set ssh address=192.168.100.0/24
set winbox address=192.168.100.0/24
/system identity
set name=zengarden-router
