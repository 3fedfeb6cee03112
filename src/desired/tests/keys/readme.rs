//! The README's key tables are rendered from composectl's key tables, and the test says
//! how to rewrite them when they differ.

use crate::desired::keys::{self, Key, Support};

const README_BEGIN: &str = "<!-- compose keys: generated from src/desired/keys.rs -->\n";
const README_END: &str = "<!-- end of compose keys -->\n";

/// The README's key tables, rendered from [`keys`].
fn readme_tables() -> String {
    let sections: [(&str, &[Key]); 6] = [
        ("Top level", keys::TOP_LEVEL),
        ("Services (`services.NAME`)", keys::SERVICE),
        ("Networks (`networks.NAME`)", keys::NETWORK),
        ("Volumes (`volumes.NAME`)", keys::VOLUME),
        ("Secrets (`secrets.NAME`)", keys::SECRET),
        ("Configs (`configs.NAME`)", keys::CONFIG),
    ];
    let mut out = String::new();
    for (title, table) in sections {
        out += &format!("\n#### {title}\n\n| key | what composectl does |\n|---|---|\n");
        let mut rows: Vec<&Key> = table.iter().collect();
        rows.sort_by_key(|k| k.name);
        for key in rows {
            let name = key.name;
            let what = match key.support {
                Support::Applied if key.note.is_empty() => "applied".to_owned(),
                Support::Applied => format!("applied: {}", key.note),
                Support::Rejected(why) => format!("**refused**: `{name}` {why}"),
                Support::NoEffect(why) => format!("no effect (a warning): `{name}` {why}"),
            };
            out += &format!("| `{name}` | {} |\n", what.replace('|', "\\|"));
        }
    }
    out + "\n"
}

#[test]
fn the_readme_key_tables_are_the_key_tables() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md reads");
    let (Some(begin), Some(end)) = (readme.find(README_BEGIN), readme.find(README_END)) else {
        panic!("README.md has no {README_BEGIN:?} ... {README_END:?} section");
    };
    let current = &readme[begin + README_BEGIN.len()..end];
    let expected = readme_tables();
    if current != expected && std::env::var_os("COMPOSECTL_WRITE_README").is_some() {
        let written = format!(
            "{}{expected}{}",
            &readme[..begin + README_BEGIN.len()],
            &readme[end..]
        );
        std::fs::write(&path, written).expect("README.md writes");
        return;
    }
    assert!(
        current == expected,
        "README.md's key tables differ from src/desired/keys.rs; run \
         `COMPOSECTL_WRITE_README=1 cargo test --lib the_readme_key_tables` to rewrite them"
    );
}
