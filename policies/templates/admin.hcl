# admin: everything, in every environment, and the application's own policies.
# everything the tech lead and the security officer have, and the application's own
# policies ($PREFIX-*) and KV settings.
path "$MOUNT/data/$PREFIX/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "$MOUNT/metadata/$PREFIX/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "$MOUNT/delete/$PREFIX/*" {
  capabilities = ["update"]
}
path "$MOUNT/undelete/$PREFIX/*" {
  capabilities = ["update"]
}
path "$MOUNT/destroy/$PREFIX/*" {
  capabilities = ["update"]
}
path "$TRANSIT/keys/$PREFIX-*" {
  capabilities = ["create", "read", "update"]
}
path "$TRANSIT/keys/$PREFIX-dev/rotate" {
  capabilities = ["update"]
}
path "$TRANSIT/keys/$PREFIX-staging/rotate" {
  capabilities = ["update"]
}
path "$TRANSIT/keys/$PREFIX-prod/rotate" {
  capabilities = ["update"]
}
path "sys/audit" {
  capabilities = ["read", "sudo"]
}
path "sys/policies/acl/$PREFIX-*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
