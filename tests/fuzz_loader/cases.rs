//! The fuzz cases of `fuzz_loader`: the seed corpus, the mutations and the generator. A
//! case is a function of (seed, index) only, so any case can be generated again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// splitmix64: small, fast, reproducible.
pub struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One generated desired directory: relative path -> content.
pub type Case = BTreeMap<String, Vec<u8>>;

/// The seed corpus: compose files and env files of the repository, and built-in ones.
pub struct Seeds {
    /// Compose files (each has `services:`).
    pub compose: Vec<Vec<u8>>,
    /// Env files.
    pub env: Vec<Vec<u8>>,
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

pub fn seeds() -> Seeds {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["desired", "examples", "tests/fixtures"] {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    let mut seeds = Seeds {
        compose: Vec::new(),
        env: Vec::new(),
    };
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) = name else { continue };
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        if bytes.len() > 256 * 1024 {
            continue;
        }
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            seeds.compose.push(bytes);
        } else if name == ".env" || name.ends_with(".env") {
            seeds.env.push(bytes);
        }
    }
    seeds.compose.retain(|text| {
        let text = String::from_utf8_lossy(text);
        text.contains("services:")
    });
    seeds
        .compose
        .extend(BUILT_IN.iter().map(|text| text.as_bytes().to_vec()));
    seeds
        .env
        .push(b"A=1\nB=${A}-x\nexport C='lit $A'\nD=\"two\nlines\"\n".to_vec());
    seeds
}

/// Compose files that use most keys the loader reads, besides the repository's.
const BUILT_IN: &[&str] = &[
    "services:\n  web:\n    image: nginx\n",
    r#"name: shop
x-common: &common
  restart: unless-stopped
  logging:
    driver: json-file
    options: {max-size: 10m, max-file: 3}
services:
  web:
    <<: *common
    image: "nginx:${TAG:-1.27}"
    ports:
      - "8080:80"
      - "127.0.0.1:8443:443/tcp"
      - "9000-9002:9000-9002/udp"
      - target: 81
        published: "8081"
        host_ip: 0.0.0.0
        protocol: tcp
    volumes:
      - ./html:/usr/share/nginx/html:ro
      - type: volume
        source: cache
        target: /var/cache/nginx
      - type: tmpfs
        target: /tmp
    environment:
      - MODE=prod
      - FOO
    env_file:
      - a.env
      - path: missing.env
        required: false
    depends_on:
      api: {condition: service_healthy}
    networks: [front, back]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost/"]
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 5s
    deploy:
      replicas: 2
      resources: {limits: {cpus: "0.5", memory: 64m, pids: 100}}
      update_config: {parallelism: 1, delay: 5s, order: start-first, failure_action: rollback}
    x-rollout:
      strategy: rolling
      gates:
        - type: docker_health
  api:
    <<: *common
    image: registry.local:5000/shop/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    command: ["serve", "--port", "8080"]
    entrypoint: /bin/api
    user: "1000:1000"
    working_dir: /srv
    hostname: api
    extra_hosts: ["db.local:10.0.0.2"]
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    read_only: true
    init: true
    stop_signal: SIGTERM
    stop_grace_period: 1m30s
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    tmpfs: [/run]
    labels: {team: shop}
    mem_limit: 512m
    cpus: 1.5
    pids_limit: 200
    profiles: [default-off]
    scale: 1
    networks:
      back:
        aliases: [backend]
    healthcheck: {test: "curl -f localhost:8080", interval: 5s}
    build: {context: ./api, dockerfile: Dockerfile, args: {VERSION: "1"}}
  db:
    image: postgres:16
    environment: {POSTGRES_PASSWORD: "${DB_PASSWORD:?set it}"}
    volumes: ["pgdata:/var/lib/postgresql/data"]
    networks: [back]
    container_name: shop-db
    deploy:
      x-rollout: {}
    x-rollout:
      strategy: canary
      steps: [1, 50%, 100%]
      monitor: 30s
      gates:
        - type: http
          url: "http://{ip}:5432/"
networks:
  front: {}
  back: {internal: true, driver: bridge, labels: [a=b]}
volumes:
  pgdata: {}
  cache: {external: true, name: shared-cache}
"#,
    "version: \"3.9\"\nservices:\n  a:\n    image: alpine\n    depends_on: [b]\n  b:\n    image: alpine\n    depends_on: [c]\n  c:\n    image: alpine\n    command: sh -c 'sleep 1'\n    restart: on-failure:3\n",
];

const SNIPPETS: &[&str] = &[
    "x-a: &a {image: nginx, restart: always}\n",
    "x-l: &l [*a, *a, *a, *a]\n",
    "  <<: *a\n",
    "    <<: [*a, *a]\n",
    "    - *a\n",
    " *a",
    " &a ",
    " &b [1, 2]",
    " *b",
    "    ports: [\"1-65535\"]\n",
    "    ports: [\"8000-8100:80-180/udp\", \"[::1]::80\", \"127.0.0.1:1:1\"]\n",
    "    deploy: {replicas: 1000000000}\n",
    "    deploy:\n      replicas: ${REPLICAS}\n",
    "    scale: -1\n",
    "    scale: 100\n",
    "    env_file: [a.env, missing.env]\n",
    "    env_file: /dev/zero\n",
    "    env_file: [{path: a.env, required: false}, {path: nope.env, required: false}]\n",
    "    depends_on: [web, web, api]\n",
    "    depends_on: {db: {condition: service_healthy}}\n",
    "    healthcheck: {test: x, interval: 99999999999h, retries: 4294967296}\n",
    "    ulimits: {nofile: {soft: 1, hard: 18446744073709551616}}\n",
    "    volumes: [\"/:/host\", \"..:/x:ro\", \"data:/d\"]\n",
    "    extends: x\n",
    "    container_name: fixed\n",
    "    x-rollout: {strategy: canary, steps: [1, 50%, 100%], gates: [{type: http}]}\n",
    "    stop_grace_period: 1e308s\n",
    "    mem_limit: 99999999999999999999p\n",
    "    command: \"sh -c 'unclosed\"\n",
    "    environment: [A=${BIG}${BIG}${BIG}, \"B\", C=${C:-${D:-${E:?need}}}]\n",
    "name: \"${NAME}\"\n",
    "name: \"!!!\"\n",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "!!binary aGVsbG8=\n",
    "? [complex, key]\n: value\n",
    "key: |\n  block\n  text\n",
    "key: >-\n  folded\n",
    "services: ~\n",
    "services: []\n",
];

const INTERPOLATIONS: &[&str] = &[
    "${",
    "${A",
    "${A:-",
    "${A:-${B",
    "}",
    "$$",
    "$",
    "${1}",
    "${FOO:?boom}",
    "${BIG}${BIG}",
    "${HOME}",
    "$FOO",
    "${FOO-x}",
    "${FOO:+y}",
    "${ }",
    "${A:-${B:-${C:-${D}}}}",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "99999999999999999999",
    "18446744073709551615",
    "4294967296",
    "2147483648",
    "1e308",
    "-1e308",
    ".nan",
    ".inf",
    "0x7fffffff",
    "0o777",
    "1_000",
    "100",
    "101",
];

const UNICODE: &[&str] = &[
    "é", "\u{202e}", "💥", "\u{feff}", "\u{0}", "\u{85}", "\u{2028}", "ǅ", "\r", "\r\n", "\t",
];

fn lines(text: &[u8]) -> Vec<Vec<u8>> {
    text.split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn insert_at_line(rng: &mut Rng, text: &mut Vec<u8>, piece: &[u8]) {
    let mut all = lines(text);
    let at = rng.below(all.len() + 1);
    all.insert(at, piece.to_vec());
    *text = all.concat();
}

fn insert_anywhere(rng: &mut Rng, text: &mut Vec<u8>, piece: &[u8]) {
    let at = rng.below(text.len() + 1);
    text.splice(at..at, piece.iter().copied());
}

/// The most bytes one line duplication adds to a case.
const MAX_DUPLICATED_BYTES: usize = 4 << 20;

/// One random change of `text`.
fn mutate(rng: &mut Rng, text: &mut Vec<u8>) {
    match rng.below(14) {
        0 => {
            // Byte flips.
            for _ in 0..=rng.below(8) {
                if !text.is_empty() {
                    let at = rng.below(text.len());
                    text[at] ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            let at = rng.below(text.len() + 1);
            text.truncate(at);
        }
        2 => {
            // Duplicate a line (duplicated keys), sometimes many times.
            let mut all = lines(text);
            if !all.is_empty() {
                let i = rng.below(all.len());
                let times = if rng.chance(10) { rng.below(5000) } else { 1 };
                let line = all[i].clone();
                // Bounded so a case stays a few MiB (a line made huge by an earlier
                // mutation, duplicated thousands of times, once reached gigabytes: the
                // generator's memory, not the loader's); over-size files stay possible.
                let times = times.min(MAX_DUPLICATED_BYTES / line.len().max(1));
                for _ in 0..times {
                    all.insert(i, line.clone());
                }
                *text = all.concat();
            }
        }
        3 => {
            let mut all = lines(text);
            if !all.is_empty() {
                let i = rng.below(all.len());
                all.remove(i);
                *text = all.concat();
            }
        }
        4 => {
            let mut all = lines(text);
            if all.len() > 1 {
                let (i, j) = (rng.below(all.len()), rng.below(all.len()));
                all.swap(i, j);
                *text = all.concat();
            }
        }
        5 => {
            let piece = rng.pick(SNIPPETS).as_bytes().to_vec();
            insert_at_line(rng, text, &piece);
        }
        6 => {
            // Deep nesting, usually shallow, sometimes absurd.
            let depth = if rng.chance(20) {
                rng.below(100_000)
            } else {
                rng.below(100)
            };
            let (open, close) = *rng.pick(&[("- ", ""), ("[", "]"), ("{a: ", "}")]);
            let piece = format!(
                "x-deep:\n  {}x{}\n",
                open.repeat(depth),
                close.repeat(depth)
            );
            insert_at_line(rng, text, piece.as_bytes());
        }
        7 => {
            // Replace a number with an extreme one.
            let at = text.iter().position(u8::is_ascii_digit);
            let number = rng.pick(NUMBERS).as_bytes();
            match at {
                Some(start) => {
                    let end = text[start..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(text.len(), |n| start + n);
                    text.splice(start..end, number.iter().copied());
                }
                None => insert_anywhere(rng, text, number),
            }
        }
        8 => {
            let piece = rng.pick(UNICODE).as_bytes().to_vec();
            insert_anywhere(rng, text, &piece);
        }
        9 => {
            // Tabs for indentation.
            let mut all = lines(text);
            if !all.is_empty() {
                let i = rng.below(all.len());
                let line = &mut all[i];
                let spaces = line.iter().take_while(|b| **b == b' ').count();
                line.splice(..spaces.min(2), [b'\t']);
                *text = all.concat();
            }
        }
        10 => {
            let piece = rng.pick(INTERPOLATIONS).as_bytes().to_vec();
            insert_anywhere(rng, text, &piece);
        }
        11 => {
            // Anchor one value and alias it elsewhere.
            let name = format!("z{}", rng.below(4));
            insert_anywhere(rng, text, format!(" &{name} ").as_bytes());
            insert_anywhere(rng, text, format!(" *{name}").as_bytes());
        }
        12 => {
            // A billion laughs of random shape.
            let fan = 2 + rng.below(9);
            let mut piece = String::from("x-l0: &l0 [lol]\n");
            for level in 1..(2 + rng.below(12)) {
                let refs = vec![format!("*l{}", level - 1); fan].join(", ");
                piece.push_str(&format!("x-l{level}: &l{level} [{refs}]\n"));
            }
            insert_at_line(rng, text, piece.as_bytes());
        }
        _ => {
            let tokens = 1 + rng.below(200);
            let piece = random_yamlish(rng, tokens);
            insert_anywhere(rng, text, piece.as_bytes());
        }
    }
}

/// Random text made of YAML's tokens.
fn random_yamlish(rng: &mut Rng, tokens: usize) -> String {
    const TOKENS: &[&str] = &[
        "services",
        "web",
        "image",
        "ports",
        "deploy",
        "replicas",
        "env_file",
        "environment",
        "x-a",
        "name",
        "volumes",
        "networks",
        "depends_on",
        "healthcheck",
        ":",
        ": ",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "\n",
        "\n  ",
        "\n    ",
        "\n      ",
        "'",
        "\"",
        "&a ",
        "*a",
        "|",
        ">",
        "? ",
        "!!str ",
        "!!int ",
        "!custom ",
        "#",
        "---\n",
        "...",
        "~",
        "null",
        "true",
        "1",
        "-1",
        "1.5",
        "80:80",
        "${X}",
        "<<: ",
        "%TAG ",
        "@",
        "`",
        "\\",
    ];
    let mut out = String::new();
    for _ in 0..tokens {
        let token: &&str = rng.pick(TOKENS);
        out.push_str(token);
    }
    out
}

/// The case `index` of `seed`.
pub fn generate(seed: u64, index: u64, seeds: &Seeds) -> Case {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut case = Case::new();
    let mut compose = if rng.chance(10) {
        let tokens = 1 + rng.below(2000);
        random_yamlish(&mut rng, tokens).into_bytes()
    } else {
        rng.pick(&seeds.compose).clone()
    };
    for _ in 0..=rng.below(3) {
        mutate(&mut rng, &mut compose);
    }
    case.insert("p/compose.yaml".into(), compose);
    if rng.chance(30) {
        let mut env = rng.pick(&seeds.env).clone();
        for _ in 0..rng.below(3) {
            mutate(&mut rng, &mut env);
        }
        case.insert("p/.env".into(), env);
    }
    if rng.chance(70) {
        let mut env = rng.pick(&seeds.env).clone();
        for _ in 0..rng.below(3) {
            mutate(&mut rng, &mut env);
        }
        case.insert("p/a.env".into(), env);
    }
    if rng.chance(20) {
        let mut over = rng.pick(&seeds.compose).clone();
        for _ in 0..=rng.below(3) {
            mutate(&mut rng, &mut over);
        }
        case.insert("p/compose.override.yaml".into(), over);
    }
    if rng.chance(10) {
        let mut solo = rng.pick(&seeds.compose).clone();
        mutate(&mut rng, &mut solo);
        case.insert("solo.yaml".into(), solo);
    }
    case
}
