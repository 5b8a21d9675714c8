//! The configuration reference in the repository's README parses, and every
//! value it shows is the default, except the keys it fills in as examples.
//! A key renamed, added to the code without a line in the README, or given
//! another default, fails here rather than misleading an operator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mamori_service::Config;

fn readme_toml() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md at the repository root");
    let start = readme.find("```toml\n").expect("a toml block in README.md") + 8;
    let len = readme[start..]
        .find("```")
        .expect("the end of the toml block");
    readme[start..start + len].to_owned()
}

#[test]
fn readme_configuration_shows_every_key_with_its_default() {
    let text = readme_toml();
    let mut shown = Config::from_toml(&text).unwrap();
    // The README fills these in as examples; the defaults are empty.
    assert!(shown.tls.take().is_some());
    assert_eq!(shown.admin.public_keys.len(), 1);
    shown.admin.public_keys.clear();
    assert_eq!(shown.data_dir, std::path::PathBuf::from("mamori-data"));
    let defaults = Config::default();
    shown.data_dir = defaults.data_dir.clone();
    assert_eq!(shown, defaults, "README.md's toml block");

    // Every key of the defaults appears in the block (a key with a default
    // parses even when the README leaves it out).
    let serialized = toml::to_string(&defaults).unwrap();
    let keys = serialized
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_owned()));
    for key in keys {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{key} ="))),
            "README.md's toml block does not show `{key}`"
        );
    }
}
