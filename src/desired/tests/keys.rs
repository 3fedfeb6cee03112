//! The key-coverage test: every key of the compose specification's top level and of its
//! service, network, volume, secret and config definitions (the lists in `spec` are written
//! from the specification's schema, `schema/compose-spec.json`) is in composectl's key
//! tables, and each does what its table says (`effects`, with a sample per key in
//! `samples`): an applied key changes the loaded spec, a rejected key fails the project
//! naming the key, a key without effect warns naming it. The README's key tables are
//! checked against the tables in `readme`.

use crate::desired::keys::{self, Support};

mod effects;
mod readme;
mod samples;
mod spec;

use spec::DEFINITIONS;

#[test]
fn every_key_of_the_specification_is_in_a_table_and_every_table_key_is_in_the_specification() {
    for (definition, spec, table) in DEFINITIONS {
        for key in *spec {
            assert!(
                keys::support(table, key).is_some(),
                "{definition} key `{key}` is neither applied, rejected nor without effect"
            );
        }
        for key in *table {
            assert!(
                spec.contains(&key.name),
                "{definition} table names `{}`, which the specification does not have",
                key.name
            );
        }
        let mut names = keys::names(table);
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "{definition} table names a key twice");
    }
}

#[test]
fn every_rejection_and_every_key_without_effect_says_why() {
    for (definition, _, table) in DEFINITIONS {
        for key in *table {
            if let Support::Rejected(why) | Support::NoEffect(why) = key.support {
                assert!(
                    why.len() > 20,
                    "{definition} key `{}` needs a reason a user can act on",
                    key.name
                );
            }
        }
    }
}
