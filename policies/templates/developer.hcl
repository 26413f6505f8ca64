# developer: reads and writes dev only.
# reads and writes the secrets of the dev environment only.
# $MOUNT is the KV v2 mount, $PREFIX the application's folder in it (coffre policy template).
path "$MOUNT/data/$PREFIX/dev/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "$MOUNT/metadata/$PREFIX/dev/*" {
  capabilities = ["read", "list"]
}
