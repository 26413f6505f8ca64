//! ACL policies: the Vault policy language (HCL or JSON), compiled into an [`Acl`].
//! (Being written; see the module docs once complete.)
