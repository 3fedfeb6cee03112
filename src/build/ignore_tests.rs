use super::*;

fn matcher(patterns: &[&str]) -> Matcher {
    let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
    Matcher::new(&patterns).unwrap()
}

/// Judged as the context walk judges it: each directory's verdicts handed down.
fn walked(m: &Matcher, file: &str) -> bool {
    let mut parent: Option<ParentMatches> = None;
    let mut verdict = false;
    let mut path = String::new();
    for part in file.split('/') {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        let (hit, own) = m.matches_under(&path, parent.as_ref());
        verdict = hit;
        parent = Some(own);
    }
    verdict
}

#[test]
fn single_patterns_match_as_the_docker_cli_matches_them() {
    let table: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "dir/file", true),
        ("**/**", "dir/file", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/dir2/file", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        ("dist/*.whl", "dist/app-1.0+g08-py3-none-any.whl", true),
        // A pattern matching a directory ignores what is under it.
        ("node_modules", "node_modules/x/index.js", true),
        ("*/temp*", "somedir/temporary.txt", true),
        ("*/temp*", "temporary.txt", false),
        ("temp?", "tempa", true),
        ("temp?", "dir/tempa", false),
        ("*.md", "docs/a.md", false),
    ];
    for (pattern, file, want) in table {
        let m = matcher(&[pattern]);
        assert_eq!(walked(&m, file), *want, "walked: {pattern} on {file}");
    }
}

#[test]
fn a_path_judged_on_its_own_tries_patterns_on_the_parent_of_as_many_elements_only() {
    // The CLI's `Matches` (used to keep the Dockerfile and .dockerignore): `**/dir` has
    // two elements, `dir/file` one parent, so the parent is not tried.
    assert!(!matcher(&["**/dir"]).matches("dir/file"));
    assert!(matcher(&["dir"]).matches("dir/file"));
    assert!(matcher(&["a/*"]).matches("a/b/c"));
    assert!(!matcher(&["Dockerfile", "!Dockerfile"]).matches("Dockerfile"));
}

#[test]
fn the_last_matching_pattern_decides_and_exceptions_bring_files_back() {
    let table: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/app-1.0-py3-none-any.whl",
            false,
        ),
        (&["*.md", "!README.md"], "README.md", false),
        (&["*.md", "!README.md"], "CHANGES.md", true),
        (
            &["*.md", "!README.md", "README*.md"],
            "README-secret.md",
            true,
        ),
        (&["!README.md", "*.md"], "README.md", true),
        (&["logs", "!logs/keep.log"], "logs/keep.log", false),
        (&["logs", "!logs/keep.log"], "logs/other.log", true),
    ];
    for (patterns, file, want) in table {
        let m = matcher(patterns);
        assert_eq!(m.matches(file), *want, "matches: {patterns:?} on {file}");
        assert_eq!(walked(&m, file), *want, "walked: {patterns:?} on {file}");
    }
}

#[test]
fn the_ignore_file_is_read_as_the_cli_reads_it() {
    let text = "\u{feff}# a comment\n  \n/secrets\n./build/\n!  /build/keep \n  # not a comment\nsrc/../tmp//x/\n";
    assert_eq!(
        parse(text),
        [
            "secrets",
            "build",
            "!build/keep",
            "# not a comment",
            "tmp/x"
        ]
    );
}

#[test]
fn paths_are_cleaned_as_go_cleans_them() {
    let table = [
        ("", "."),
        ("./", "."),
        ("a//b/", "a/b"),
        ("/../a", "/a"),
        ("../a/../../b", "../../b"),
        ("a/./b/..", "a"),
        ("/", "/"),
    ];
    for (path, want) in table {
        assert_eq!(clean(path), want, "{path}");
    }
}

#[test]
fn a_lone_exclamation_mark_or_an_unclosed_class_is_an_error() {
    assert!(Matcher::new(&["!".to_owned()]).is_err());
    let err = Matcher::new(&["a[b".to_owned()]).unwrap_err();
    assert_eq!(err.pattern, "a[b");
}

#[test]
fn an_excluded_directory_is_walked_only_when_an_exception_starts_with_it() {
    let m = matcher(&["build", "!build/keep"]);
    assert!(m.may_except_under("build"));
    assert!(!m.may_except_under("bui"));
    let m = matcher(&["build", "!**/keep"]);
    assert!(!m.may_except_under("build"));
}
