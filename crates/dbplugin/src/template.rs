//! Statement templates: Vault's `{{name}}` (also `{{username}}`), `{{password}}` and
//! `{{expiration}}` placeholders.
//!
//! Names are checked by the engine before they get here (letters, digits and `_ - . @`), so
//! they need no quoting of their own. A password is always written inside a single-quoted
//! string literal in the statements, so it is escaped for one: `'` doubled, and on MySQL `\`
//! doubled too (MySQL treats backslash as an escape inside strings). A password policy may
//! therefore allow any character.

use zeroize::Zeroizing;

use crate::Kind;

/// What a statement's placeholders stand for.
#[derive(Default, Clone, Copy)]
pub struct Vars<'a> {
    /// The database user (`{{name}}`, `{{username}}`).
    pub name: &'a str,
    /// Its password (`{{password}}`).
    pub password: Option<&'a str>,
    /// When it expires (`{{expiration}}`), e.g. `2027-01-01 12:00:00+0000`.
    pub expiration: Option<&'a str>,
}

fn escape_literal(value: &str, kind: Kind) -> String {
    match kind {
        Kind::Postgres => value.replace('\'', "''"),
        Kind::Mysql => value.replace('\\', "\\\\").replace('\'', "''"),
    }
}

/// `statement` with its placeholders filled in (a zeroizing buffer: it may hold a password).
pub fn render(statement: &str, vars: &Vars<'_>, kind: Kind) -> Zeroizing<String> {
    let mut out = statement
        .replace("{{name}}", vars.name)
        .replace("{{username}}", vars.name);
    if let Some(exp) = vars.expiration {
        out = out.replace("{{expiration}}", exp);
    }
    if let Some(pw) = vars.password {
        let escaped = Zeroizing::new(escape_literal(pw, kind));
        let filled = Zeroizing::new(out.replace("{{password}}", &escaped));
        return filled;
    }
    Zeroizing::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_passwords_escaped() {
        let vars = Vars {
            name: "v-app-1",
            password: Some(r"it's\x"),
            expiration: Some("2027-01-01 00:00:00+0000"),
        };
        let pg = render(
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            &vars,
            Kind::Postgres,
        );
        assert_eq!(
            pg.as_str(),
            r#"CREATE ROLE "v-app-1" WITH LOGIN PASSWORD 'it''s\x' VALID UNTIL '2027-01-01 00:00:00+0000';"#
        );
        let my = render(
            "CREATE USER '{{username}}'@'%' IDENTIFIED BY '{{password}}';",
            &vars,
            Kind::Mysql,
        );
        assert_eq!(
            my.as_str(),
            r"CREATE USER 'v-app-1'@'%' IDENTIFIED BY 'it''s\\x';"
        );
    }
}
