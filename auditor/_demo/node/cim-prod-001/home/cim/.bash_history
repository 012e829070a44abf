ls -la /etc/nats
sudo systemctl status nats
nats --server tls://cim-001.example.com:4222 --creds /run/secrets/nats/leaf.creds server ping
nsc describe user cim-agent
export NATS_NKEY_SEED=SUAI34LVVGPXRIWJPFZY4EPGICSKDPY7VIJZ53ZOTSPVLE6GUCF724QS3I
nats --server tls://hub.cim.example.com:7422 --nkey <(echo $NATS_NKEY_SEED) stream ls
unset NATS_NKEY_SEED
journalctl -u cim-agent --since today | tail -50
sudo cp ~/.ssh/id_ed25519 ~/backup/deploy_ed25519
git -C /etc/nixos pull && sudo nixos-rebuild switch
