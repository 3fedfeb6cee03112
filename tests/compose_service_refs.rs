//! Service references on the real engine, through `composectl apply --once`: a service in
//! another service's network namespace (and replaced with it), one in another service's IPC
//! and PID namespaces (and replaced with it), `network_mode: none` and `host`, `volumes_from` a service's volume, and `links` whose alias resolves. The docker
//! CLI is the oracle; every test has a project of its own and cleans up on drop.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestProject, demo_image, docker, free_port, http_get, run_cli, wait_until};

fn desired(project: &TestProject) -> String {
    project.dir().display().to_string()
}

/// `docker inspect -f FORMAT NAME`.
fn inspect(name: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, name])
}

fn id_of(name: &str) -> String {
    inspect(name, "{{.Id}}")
}

/// `a` serves on 8080 and publishes 8081 of its namespace on 127.0.0.1:`port`; `b` runs
/// in a's namespace, serves on 8081, and is healthy only when it reaches a on localhost.
fn shared_namespace(port: u16, a_version: &str) -> String {
    let image = demo_image("v1");
    format!(
        r#"services:
  a:
    image: {image}
    restart: "no"
    environment:
      VERSION: {a_version}
    ports:
      - "127.0.0.1:{port}:8081"
  b:
    image: {image}
    restart: "no"
    network_mode: "service:a"
    environment:
      PORT: "8081"
      VERSION: b-in-a
    healthcheck:
      test: ["CMD", "/demo-app", "healthcheck", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
"#
    )
}

fn version_at(addr: SocketAddr) -> Option<String> {
    match http_get(addr, "/version") {
        Ok((200, body)) => Some(body.trim().to_owned()),
        _ => None,
    }
}

/// b shares a's network namespace, reaches a on localhost and serves through a's published
/// port; a change of a's environment replaces a and, as compose does, b with it.
#[test]
fn a_service_in_another_services_namespace_follows_its_replacement() {
    let project = TestProject::new("refs-netns");
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (a, b) = (
        format!("{}-a-1", project.name()),
        format!("{}-b-1", project.name()),
    );
    project.write_compose(&shared_namespace(port, "a1"));
    project.apply_once();

    let a_id = id_of(&a);
    assert_eq!(
        inspect(&b, "{{.HostConfig.NetworkMode}}"),
        format!("container:{a_id}")
    );
    assert_eq!(
        inspect(&b, "{{len .NetworkSettings.Networks}}"),
        "0",
        "b joins no project network"
    );
    let healthy = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        inspect(&b, "{{.State.Health.Status}}") == "healthy"
    });
    assert!(healthy, "b never reached a's port on localhost");
    let served = wait_until(Duration::from_secs(20), Duration::from_millis(250), || {
        version_at(addr).as_deref() == Some("b-in-a")
    });
    assert!(served, "a's published port 8081 does not reach b");
    let stable = project.cli(&["plan"]);
    assert!(!stable.stdout.contains("replace"), "{}", stable.all());

    project.write_compose(&shared_namespace(port, "a2"));
    let shown = project.cli(&["plan"]);
    assert!(
        shown
            .stdout
            .contains("the network namespace of service a was replaced"),
        "{}",
        shown.all()
    );
    project.apply_once();
    let new_a = id_of(&a);
    assert_ne!(new_a, a_id, "a was replaced");
    assert_eq!(
        inspect(&b, "{{.HostConfig.NetworkMode}}"),
        format!("container:{new_a}"),
        "b joined the new namespace"
    );
    let healthy = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        inspect(&b, "{{.State.Health.Status}}") == "healthy"
    });
    assert!(healthy, "b does not reach the new a");
    let served = wait_until(Duration::from_secs(20), Duration::from_millis(250), || {
        version_at(addr).as_deref() == Some("b-in-a")
    });
    assert!(served, "the new a's port does not reach b");
    let again = project.cli(&["plan"]);
    assert!(
        !again.stdout.contains("replace"),
        "a second plan is empty:\n{}",
        again.all()
    );
}

/// `a` with a shareable IPC namespace (the engine shares no other), and `b` in a's IPC and
/// PID namespaces.
fn shared_ipc_and_pid(a_version: &str) -> String {
    let image = demo_image("v1");
    format!(
        r#"services:
  a:
    image: {image}
    restart: "no"
    ipc: shareable
    environment:
      VERSION: {a_version}
  b:
    image: {image}
    restart: "no"
    ipc: "service:a"
    pid: "service:a"
"#
    )
}

/// The namespace `kind` (`ipc`, `pid`) of the container `name`'s main process, as the host's
/// /proc shows it (`ipc:[4026532...]`).
fn namespace_of(name: &str, kind: &str) -> String {
    let pid = inspect(name, "{{.State.Pid}}");
    let link = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).expect("readable /proc");
    link.display().to_string()
}

/// `ipc: service:a` and `pid: service:a` are created as `container:<a's ID>`, so b shares
/// a's IPC and PID namespaces; a change of a's environment replaces a and, as compose does,
/// b with it, in the new a's namespaces.
#[test]
fn a_service_in_another_services_ipc_and_pid_namespaces_follows_its_replacement() {
    let project = TestProject::new("refs-ipcpid");
    let (a, b) = (
        format!("{}-a-1", project.name()),
        format!("{}-b-1", project.name()),
    );
    project.write_compose(&shared_ipc_and_pid("a1"));
    project.apply_once();

    let a_id = id_of(&a);
    let b_id = id_of(&b);
    assert_eq!(inspect(&a, "{{.HostConfig.IpcMode}}"), "shareable");
    assert_eq!(
        inspect(&b, "{{.HostConfig.IpcMode}}"),
        format!("container:{a_id}")
    );
    assert_eq!(
        inspect(&b, "{{.HostConfig.PidMode}}"),
        format!("container:{a_id}")
    );
    assert_eq!(inspect(&b, "{{.State.Status}}"), "running");
    for kind in ["ipc", "pid"] {
        assert_eq!(namespace_of(&b, kind), namespace_of(&a, kind), "{kind}");
    }
    let stable = project.cli(&["plan"]);
    assert!(!stable.stdout.contains("replace"), "{}", stable.all());

    project.write_compose(&shared_ipc_and_pid("a2"));
    let shown = project.cli(&["plan"]);
    assert!(
        shown.stdout.contains("replace") && shown.stdout.contains(&b),
        "{}",
        shown.all()
    );
    assert!(
        shown
            .stdout
            .contains("the IPC namespace of service a was replaced"),
        "{}",
        shown.all()
    );
    project.apply_once();
    let new_a = id_of(&a);
    assert_ne!(new_a, a_id, "a was replaced");
    assert_ne!(id_of(&b), b_id, "b was replaced");
    for key in ["IpcMode", "PidMode"] {
        assert_eq!(
            inspect(&b, &format!("{{{{.HostConfig.{key}}}}}")),
            format!("container:{new_a}"),
            "b joined the new a's namespace ({key})"
        );
    }
    assert_eq!(inspect(&b, "{{.State.Status}}"), "running");
    for kind in ["ipc", "pid"] {
        assert_eq!(namespace_of(&b, kind), namespace_of(&a, kind), "{kind}");
    }
    let again = project.cli(&["plan"]);
    assert!(
        !again.stdout.contains("replace"),
        "a second plan is empty:\n{}",
        again.all()
    );
}

/// `none` and `host` are the containers' network modes; the host one never listens (its
/// start is delayed), so it binds nothing on the host. `host` is a privilege, approved first.
#[test]
fn none_and_host_network_modes_are_applied() {
    let project = TestProject::new("refs-modes");
    let image = demo_image("v1");
    project.write_compose(&format!(
        r#"services:
  isolated:
    image: {image}
    restart: "no"
    network_mode: none
  onhost:
    image: {image}
    restart: "no"
    network_mode: host
    healthcheck:
      disable: true
    environment:
      STARTUP_DELAY: "3600"
      PORT: "{}"
"#,
        free_port()
    ));
    let approve = run_cli(&[
        "policy",
        "approve",
        project.name(),
        "--desired",
        &desired(&project),
    ]);
    assert_eq!(approve.code, Some(0), "{}", approve.all());
    assert!(approve.stdout.contains("network:host"), "{}", approve.all());
    project.apply_once();
    let isolated = format!("{}-isolated-1", project.name());
    let onhost = format!("{}-onhost-1", project.name());
    assert_eq!(inspect(&isolated, "{{.HostConfig.NetworkMode}}"), "none");
    assert_eq!(inspect(&onhost, "{{.HostConfig.NetworkMode}}"), "host");
    assert_eq!(inspect(&isolated, "{{.State.Status}}"), "running");
    let networks = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", project.name()),
    ]);
    assert_eq!(networks, "", "no project network is created");
}

/// `volumes_from` a service mounts that service's volumes (read-only as written): a file
/// written into the source's volume is read through the dependent.
#[test]
fn volumes_from_a_service_mounts_its_volumes() {
    let project = TestProject::new("refs-volfrom");
    let image = demo_image("v1");
    project.write_compose(&format!(
        r#"services:
  data:
    image: {image}
    restart: "no"
    volumes:
      - store:/store
  reader:
    image: {image}
    restart: "no"
    volumes_from:
      - "data:ro"
volumes:
  store: {{}}
"#
    ));
    project.apply_once();
    let data = format!("{}-data-1", project.name());
    let reader = format!("{}-reader-1", project.name());
    assert_eq!(
        inspect(&reader, "{{json .HostConfig.VolumesFrom}}"),
        format!("[\"{}:ro\"]", id_of(&data))
    );
    assert_eq!(
        inspect(&reader, "{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}"),
        "/store false"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "shared through volumes_from\n").unwrap();
    docker(&[
        "cp",
        &file.path().display().to_string(),
        &format!("{data}:/store/hello.txt"),
    ]);
    let read = Command::new("docker")
        .args(["cp", &format!("{reader}:/store/hello.txt"), "-"])
        .stdin(Stdio::null())
        .output()
        .expect("docker cp runs");
    assert!(read.status.success(), "{:?}", read);
    assert!(
        String::from_utf8_lossy(&read.stdout).contains("shared through volumes_from"),
        "the reader sees the file"
    );
}

/// A DNS query for `name` to the engine's resolver inside the network namespace of the
/// process `pid`: the A record's address, or `None`.
fn resolve_in(pid: &str, name: &str) -> Option<String> {
    const QUERY: &str = r#"
import socket, struct, sys
name = sys.argv[1]
q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)
q += b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0'
q += struct.pack('>HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, ('127.0.0.11', 53))
r = s.recv(512)
answers = struct.unpack('>H', r[6:8])[0]
print(socket.inet_ntoa(r[-4:]) if answers else '')
"#;
    let out = Command::new("nsenter")
        .args(["-t", pid, "-n", "python3", "-c", QUERY, name])
        .stdin(Stdio::null())
        .output()
        .expect("nsenter runs");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// `links: ["db:database"]` makes `database` resolve to db's address from the linking
/// container (and only there), on the project network.
#[test]
fn a_link_alias_resolves_to_the_linked_container() {
    let project = TestProject::new("refs-links");
    let image = demo_image("v1");
    project.write_compose(&format!(
        r#"services:
  db:
    image: {image}
    restart: "no"
  web:
    image: {image}
    restart: "no"
    links:
      - "db:database"
"#
    ));
    project.apply_once();
    let db = format!("{}-db-1", project.name());
    let web = format!("{}-web-1", project.name());
    let network = format!("{}_default", project.name());
    let links = inspect(
        &web,
        &format!("{{{{json (index .NetworkSettings.Networks \"{network}\").Links}}}}"),
    );
    assert!(links.contains(&format!("{db}:database")), "{links}");
    let db_ip = inspect(
        &db,
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
    );
    let web_pid = inspect(&web, "{{.State.Pid}}");
    assert_eq!(resolve_in(&web_pid, "database"), Some(db_ip));
    let db_pid = inspect(&db, "{{.State.Pid}}");
    assert_eq!(
        resolve_in(&db_pid, "database"),
        None,
        "the alias is web's only"
    );
}
