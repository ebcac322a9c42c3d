use super::*;

fn registry(files: &[(&str, &str)]) -> Result<Registry> {
    let mut reg = Registry::default();
    for (name, text) in files {
        let path = PathBuf::from(format!("/etc/cdi/{name}"));
        let spec = parse(&path, text)?;
        validate(&path, &spec)?;
        for (d, device) in spec.devices.iter().enumerate() {
            reg.devices.insert(
                format!("{}={}", spec.kind, device.name),
                (reg.specs.len(), d),
            );
        }
        reg.specs.push((path, spec));
        reg.priority.push(0);
    }
    Ok(reg)
}

const VENDOR: &str = r#"{
  "cdiVersion": "0.6.0",
  "kind": "vendor.example/dev",
  "containerEdits": { "env": ["SPEC_WIDE=1"], "additionalGids": [0, 44] },
  "devices": [
    { "name": "one", "containerEdits": {
        "env": ["ONE=yes"],
        "deviceNodes": [{ "path": "/dev/vnull", "hostPath": "/dev/null", "type": "c", "major": 1, "minor": 3, "permissions": "rw" }],
        "mounts": [{ "hostPath": "/etc", "containerPath": "/host-etc", "options": ["ro", "nosuid", "bind"] }],
        "hooks": [{ "hookName": "createContainer", "path": "/bin/true", "args": ["true", "x"], "timeout": 5 }]
    } },
    { "name": "two", "containerEdits": { "env": ["TWO=yes"] } }
  ]
}"#;

#[test]
fn a_device_gets_its_own_and_the_spec_wide_edits() {
    let reg = registry(&[("vendor.json", VENDOR)]).unwrap();
    let edits = reg.resolve(&["vendor.example/dev=one".into()]).unwrap();
    assert_eq!(edits.env, ["SPEC_WIDE=1", "ONE=yes"]);
    assert_eq!(
        edits.devices,
        [Device {
            host: "/dev/null".into(),
            container: "/dev/vnull".into(),
            access: "rw".into()
        }]
    );
    assert_eq!(
        edits.mounts,
        [Volume {
            source: "/etc".into(),
            target: "/host-etc".into(),
            readonly: true
        }]
    );
    assert_eq!(edits.hooks.len(), 1);
    assert_eq!(edits.hooks[0].stage, Stage::CreateContainer);
    assert_eq!(edits.hooks[0].timeout, Some(5));
    assert_eq!(edits.gids, [44]);
}

#[test]
fn all_is_every_device_of_the_kind_and_spec_edits_come_once() {
    let reg = registry(&[("vendor.json", VENDOR)]).unwrap();
    let edits = reg.resolve(&["vendor.example/dev=all".into()]).unwrap();
    assert_eq!(edits.env, ["SPEC_WIDE=1", "ONE=yes", "TWO=yes"]);
}

#[test]
fn an_unknown_device_lists_the_known_ones() {
    let reg = registry(&[("vendor.json", VENDOR)]).unwrap();
    let err = reg
        .resolve(&["vendor.example/dev=three".into()])
        .unwrap_err();
    let Error::UnknownDevice { name, known } = err else {
        panic!("{err}")
    };
    assert_eq!(name, "vendor.example/dev=three");
    assert_eq!(known, ["vendor.example/dev=one", "vendor.example/dev=two"]);
    assert!(matches!(
        reg.resolve(&["nodevice".into()]),
        Err(Error::NotQualified(_))
    ));
}

#[test]
fn malformed_specs_say_where() {
    let err = registry(&[(
        "bad.json",
        "{\n  \"cdiVersion\": \"0.6.0\",\n  \"kind\": 7\n}",
    )])
    .unwrap_err();
    let Error::Malformed { line, column, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*line, *column), (3, 11), "{err}");
    let err = registry(&[(
        "bad.yaml",
        "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n  - name: all\n    containerEdits:\n      bogus: 1\n",
    )])
    .unwrap_err();
    let Error::Malformed { line, message, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*line, 6, "{err}");
    assert!(message.contains("bogus"), "{message}");
}

#[test]
fn yaml_as_nvidia_ctk_writes_it() {
    let yaml = r#"---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - path: /dev/null
- name: all
  containerEdits:
    deviceNodes:
    - path: /dev/null
containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  hooks:
  - hookName: createContainer
    path: /usr/bin/nvidia-cdi-hook
    args:
    - nvidia-cdi-hook
    - update-ldcache
  mounts:
  - hostPath: /usr/bin/true
    containerPath: /usr/bin/nvidia-smi
    options:
    - ro
    - nosuid
    - nodev
    - bind
"#;
    let reg = registry(&[("nvidia.yaml", yaml)]).unwrap();
    assert_eq!(
        reg.names_of_kind("nvidia.com/gpu"),
        ["nvidia.com/gpu=0", "nvidia.com/gpu=all"]
    );
    let edits = reg.resolve(&["nvidia.com/gpu=all".into()]).unwrap();
    assert_eq!(edits.env, ["NVIDIA_VISIBLE_DEVICES=void"]);
    assert_eq!(edits.devices.len(), 1);
    assert_eq!(edits.devices[0].access, "rwm");
}

#[test]
fn invalid_specs_are_refused() {
    for (text, want) in [
        (
            r#"{"cdiVersion":"9.0.0","kind":"a.b/c","devices":[{"name":"x"}]}"#,
            "newer",
        ),
        (
            r#"{"cdiVersion":"0.6.0","kind":"noslash","devices":[{"name":"x"}]}"#,
            "kind",
        ),
        (
            r#"{"cdiVersion":"0.6.0","kind":"a.b/c","devices":[]}"#,
            "no devices",
        ),
        (
            r#"{"cdiVersion":"0.6.0","kind":"a.b/c","devices":[{"name":"x","containerEdits":{"hooks":[{"hookName":"later","path":"/bin/true"}]}}]}"#,
            "hook name",
        ),
    ] {
        let err = registry(&[("x.json", text)]).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    let text = r#"{"cdiVersion":"0.6.0","kind":"a.b/c","devices":[{"name":"x","containerEdits":{"mounts":[{"hostPath":"/a","containerPath":"/b","type":"tmpfs"}]}}]}"#;
    let reg = registry(&[("x.json", text)]).unwrap();
    let err = reg.resolve(&["a.b/c=x".into()]).unwrap_err().to_string();
    assert!(err.contains("bind mounts only"), "{err}");
}

#[test]
fn device_names_are_told_from_paths() {
    assert!(is_qualified("vendor.example/dev=one"));
    assert!(!is_qualified("/dev/loop0"));
    assert!(!is_qualified("/dev/x=y/z"));
    assert_eq!(
        split_qualified("nvidia.com/gpu=GPU-1a:0").unwrap(),
        ("nvidia.com/gpu", "GPU-1a:0")
    );
}
