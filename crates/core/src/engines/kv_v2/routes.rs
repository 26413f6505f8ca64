//! The KV v2 route table: every path of the mount, its operations, fields and help.

use std::sync::LazyLock;

use crate::request::Operation;
use crate::route::{Field, FieldKind, Table, WRITE, field, path};

/// The handler a path of the table goes to; the key is the `path` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Config,
    Data,
    Metadata,
    Delete,
    Undelete,
    Destroy,
    Subkeys,
    /// Rotate now (`rotate/<key>`), promote a published next value, roll back.
    Rotate,
    Promote,
    Rollback,
    /// Any other path: a 404 that tells a KV v1 habit how to use a versioned mount.
    Elsewhere,
}

const VERSIONS: Field = field(
    "versions",
    FieldKind::Any,
    "The versions to act on (a list of version numbers).",
);
const MAX_VERSIONS: Field = field(
    "max_versions",
    FieldKind::Int,
    "How many versions to keep per key (0: the mount's setting or 10).",
);
const CAS_REQUIRED: Field = field(
    "cas_required",
    FieldKind::Bool,
    "Every write must carry the check-and-set option.",
);
const DELETE_VERSION_AFTER: Field = field(
    "delete_version_after",
    FieldKind::Any,
    "How long a version lives before it is deleted (0: forever).",
);

/// OpenBao's answer on a path a versioned mount does not have (with a 404).
pub(super) const INVALID_PATH: &str = "Invalid path for a versioned K/V secrets engine. See the API docs \
     for the appropriate API endpoints to use. If using the OpenBao CLI, use 'bao kv get' for \
     this operation.";

pub(super) static ROUTES: LazyLock<Table<Route>> = LazyLock::new(|| {
    use Operation::{Delete, List, Patch, Read};
    Table::new(
        "The kv backend reads and writes versioned secrets: every write adds a version, and \
         deleted versions can be restored until they are destroyed.",
        vec![
            path("config", Route::Config)
                .ops(&[Read])
                .ops(WRITE)
                .fields(&[MAX_VERSIONS, CAS_REQUIRED, DELETE_VERSION_AFTER])
                .help(
                    "Configures settings for the KV store.",
                    "The settings apply to every key that does not set its own.",
                ),
            path("data/{path*}", Route::Data)
                .ops(&[Read, Patch, Delete])
                .ops(WRITE)
                .existence_check()
                .fields(&[
                    field("data", FieldKind::Map, "The secret: a map of fields."),
                    field(
                        "options",
                        FieldKind::Map,
                        "Options of the write, e.g. `cas`.",
                    ),
                    field(
                        "version",
                        FieldKind::Int,
                        "The version to read (0: the latest).",
                    ),
                ])
                .help(
                    "Write, patch, read and delete data in the key-value store.",
                    "A write adds a version; a read returns the latest or the asked version.",
                ),
            path("metadata/{path*}", Route::Metadata)
                .ops(&[Read, List, Patch, Delete])
                .ops(WRITE)
                .existence_check()
                .fields(&[
                    MAX_VERSIONS,
                    CAS_REQUIRED,
                    DELETE_VERSION_AFTER,
                    field(
                        "custom_metadata",
                        FieldKind::Map,
                        "User-provided key-value pairs.",
                    ),
                    field(
                        "exclude_deleted",
                        FieldKind::Bool,
                        "LIST: leave out keys whose latest version is deleted.",
                    ),
                    field(
                        "rotation",
                        FieldKind::Any,
                        "The rotation policy: a preset's name or an object (null removes it).",
                    ),
                    field(
                        "criticality",
                        FieldKind::Str,
                        "critical, high, moderate or low.",
                    ),
                    field("owner", FieldKind::Str, "Who answers for the secret."),
                ])
                .help(
                    "Configures settings for the key and lists keys.",
                    "Deleting the metadata deletes every version of the key.",
                ),
            path("delete/{path+}", Route::Delete)
                .ops(WRITE)
                .fields(&[VERSIONS])
                .help(
                    "Marks versions as deleted.",
                    "Deleted versions can be undeleted.",
                ),
            path("undelete/{path+}", Route::Undelete)
                .ops(WRITE)
                .fields(&[VERSIONS])
                .help(
                    "Undeletes versions.",
                    "Restores versions that were deleted.",
                ),
            path("destroy/{path+}", Route::Destroy)
                .ops(WRITE)
                .fields(&[VERSIONS])
                .help(
                    "Permanently removes versions.",
                    "The data of destroyed versions is gone.",
                ),
            path("subkeys/{path*}", Route::Subkeys)
                .ops(&[Read])
                .fields(&[
                    field("version", FieldKind::Int, "The version (0: the latest)."),
                    field(
                        "depth",
                        FieldKind::Int,
                        "How deep to descend (0: no limit).",
                    ),
                ])
                .help(
                    "Read the structure of a secret, without its values.",
                    "Values are replaced by null.",
                ),
            path("rotate/{path+}", Route::Rotate)
                .ops(WRITE)
                .fields(&[field(
                    "dry_run",
                    FieldKind::Bool,
                    "Say what would happen and change nothing.",
                )])
                .help(
                    "Rotates the secret now, as its rotation policy says.",
                    "Replace writes a new value; two-phase publishes it as next. The \
                     response never carries a value.",
                ),
            path("promote/{path+}", Route::Promote).ops(WRITE).help(
                "Promotes a published next value now.",
                "Skips the rest of the grace; the validation webhook still runs.",
            ),
            path("rollback/{path+}", Route::Rollback)
                .ops(WRITE)
                .fields(&[field(
                    "version",
                    FieldKind::Int,
                    "The version to restore (default: the one before the last rotation).",
                )])
                .help(
                    "Restores an earlier value as a new version.",
                    "While a two-phase rotation is pending, cancels it.",
                ),
            path("{path*}", Route::Elsewhere)
                .ops(&[Read, List, Patch, Delete])
                .ops(WRITE)
                .arbitrary_fields()
                .help("Not a path of a versioned K/V mount.", INVALID_PATH),
        ],
    )
});
