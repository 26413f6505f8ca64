# tech-lead: everything, in every environment.
# everything on the application's secrets in every environment, key rotation,
# and the audit configuration.
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
  capabilities = ["read"]
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
