# devops: reads every environment, writes staging and prod, rotates keys, reads the audit.
# reads every environment, writes staging and prod, rotates the application's transit
# keys ($TRANSIT/keys/$PREFIX-<env>) and reads the audit configuration.
path "$MOUNT/data/$PREFIX/*" {
  capabilities = ["read"]
}
path "$MOUNT/metadata/$PREFIX/*" {
  capabilities = ["read", "list"]
}
path "$MOUNT/data/$PREFIX/staging/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "$MOUNT/data/$PREFIX/prod/*" {
  capabilities = ["create", "read", "update", "delete"]
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
