//! `coffre policy template …`: the access matrix of docs/ACCESS.md as policies. Each role is an
//! HCL file in `policies/templates/` (built into the binary) with `$MOUNT`, `$PREFIX` and
//! `$TRANSIT` for the KV v2 mount, the application's folder in it and the transit mount;
//! `apply` writes one policy per role, named `<prefix>-<role>`.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::Ctx;
use crate::output;

/// The roles, in the order of the matrix, with their template text.
pub const ROLES: [(&str, &str); 5] = [
    (
        "developer",
        include_str!("../../../../policies/templates/developer.hcl"),
    ),
    (
        "devops",
        include_str!("../../../../policies/templates/devops.hcl"),
    ),
    (
        "security-officer",
        include_str!("../../../../policies/templates/security-officer.hcl"),
    ),
    (
        "tech-lead",
        include_str!("../../../../policies/templates/tech-lead.hcl"),
    ),
    (
        "admin",
        include_str!("../../../../policies/templates/admin.hcl"),
    ),
];

/// `coffre policy template` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// List the role templates
    List,
    /// Print a role's policy as `apply` would write it
    Show(TemplateArgs),
    /// Write the policies of roles (`<prefix>-<role>`), e.g. `apply --mount secret --prefix app
    /// developer devops`
    Apply(TemplateArgs),
}

/// Arguments of `show` and `apply`.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// The KV v2 mount holding the application's secrets
    #[arg(long, default_value = "secret")]
    pub mount: String,
    /// The application's folder in the mount; environments are `dev`, `staging`, `prod` below it
    #[arg(long)]
    pub prefix: String,
    /// The transit mount holding the application's keys (`<prefix>-<environment>`)
    #[arg(long, default_value = "transit")]
    pub transit: String,
    /// Roles: developer, devops, security-officer, tech-lead, admin
    #[arg(value_name = "ROLE", required = true)]
    pub roles: Vec<String>,
}

/// A mount or prefix as the templates take it: path segments without glob characters.
fn segment(name: &str, what: &str) -> anyhow::Result<String> {
    let v = name.trim_matches('/');
    if v.is_empty() || v.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        bail!("invalid {what} {name:?}");
    }
    if v.chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '*' | '+' | '{' | '}' | '\\' | '$'))
    {
        bail!("invalid {what} {name:?}: no spaces, quotes, globs or braces");
    }
    Ok(v.to_string())
}

/// The policy text of `role` for these arguments.
pub fn render(role: &str, mount: &str, prefix: &str, transit: &str) -> anyhow::Result<String> {
    let Some((_, text)) = ROLES.iter().find(|(r, _)| *r == role) else {
        bail!(
            "unknown role {role:?}: {}",
            ROLES.map(|(r, _)| r).join(", ")
        );
    };
    let (mount, prefix, transit) = (
        segment(mount, "mount")?,
        segment(prefix, "prefix")?,
        segment(transit, "transit mount")?,
    );
    Ok(text
        .replace("$MOUNT", &mount)
        .replace("$PREFIX", &prefix)
        .replace("$TRANSIT", &transit))
}

/// Runs `coffre policy template …`.
pub async fn run(ctx: &Ctx, cmd: TemplateCommand) -> anyhow::Result<()> {
    match cmd {
        TemplateCommand::List => {
            for (role, text) in ROLES {
                let summary = text.lines().next().unwrap_or("").trim_start_matches("# ");
                output::println(&format!(
                    "{role:<18} {}",
                    summary.split_once(": ").map_or(summary, |(_, s)| s)
                ))?;
            }
        }
        TemplateCommand::Show(a) => {
            for role in &a.roles {
                output::print(&render(role, &a.mount, &a.prefix, &a.transit)?)?;
            }
        }
        TemplateCommand::Apply(a) => {
            let client = ctx.client()?;
            let prefix = segment(&a.prefix, "prefix")?.replace('/', "-");
            for role in &a.roles {
                let text = render(role, &a.mount, &a.prefix, &a.transit)?;
                let name = format!("{prefix}-{role}");
                client
                    .policy_write(&name, &text)
                    .await
                    .with_context(|| format!("error writing policy {name}"))?;
                output::println(&format!("Success! Uploaded policy: {name}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_to_a_policy_without_placeholders() {
        for (role, _) in ROLES {
            let text = render(role, "secret", "app", "transit").expect(role);
            assert!(!text.contains('$'), "{role}: {text}");
            assert!(text.contains("secret/data/app/"), "{role}");
        }
        assert!(render("intern", "secret", "app", "transit").is_err());
        assert!(render("developer", "secret", "a*", "transit").is_err());
        assert!(render("developer", "se\"cret", "app", "transit").is_err());
    }
}
