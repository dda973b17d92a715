//! Weight import: PyTorch checkpoints (plain and Lightning-wrapped) load like the safetensors
//! file, and files that do not fit the network are refused with every offending key listed.

use mine_dsl::policy::Policy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use mine_runtime::policies::vpt::{ImportOptions, VptConfig, VptImportError, VptPolicy};
use serde_json::{Map, Value};

fn shared_dir() -> PathBuf {
    std::env::var_os("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn golden_weights() -> PathBuf {
    shared_dir().join("golden/tiny_vpt_weights.safetensors")
}

/// A fresh path in the system temp dir for this test process.
fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mine-vpt-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// One float32 tensor of a state dict: shape and little-endian bytes.
#[derive(Clone)]
struct Raw {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Reads a float32 safetensors file into name -> tensor.
fn read_safetensors(path: &Path) -> BTreeMap<String, Raw> {
    let data = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(data[..8].try_into().unwrap()) as usize;
    let header: Map<String, Value> = serde_json::from_slice(&data[8..8 + n]).unwrap();
    let body = &data[8 + n..];
    header
        .into_iter()
        .filter(|(k, _)| k != "__metadata__")
        .map(|(k, v)| {
            assert_eq!(v["dtype"], "F32");
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let off = v["data_offsets"].as_array().unwrap();
            let (a, b) = (
                off[0].as_u64().unwrap() as usize,
                off[1].as_u64().unwrap() as usize,
            );
            (
                k,
                Raw {
                    shape,
                    bytes: body[a..b].to_vec(),
                },
            )
        })
        .collect()
}

/// Writes name -> tensor as a float32 safetensors file.
fn write_safetensors(path: &Path, tensors: &BTreeMap<String, Raw>) {
    let mut header = Map::new();
    let mut body = Vec::new();
    for (name, t) in tensors {
        let start = body.len();
        body.extend_from_slice(&t.bytes);
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [start, body.len()]}),
        );
    }
    let header = serde_json::to_vec(&Value::Object(header)).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(body);
    std::fs::write(path, out).unwrap();
}

/// A minimal pickle (protocol 2) writer for PyTorch's legacy (non-zip) `torch.save` format.
struct Pickle(Vec<u8>);

impl Pickle {
    fn new() -> Self {
        Self(vec![0x80, 2])
    }
    fn op(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.op(b"X")
            .op(&(s.len() as u32).to_le_bytes())
            .op(s.as_bytes())
    }
    fn int(&mut self, v: usize) -> &mut Self {
        self.op(b"J").op(&(v as i32).to_le_bytes())
    }
    fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.op(b"c")
            .op(module.as_bytes())
            .op(b"\n")
            .op(name.as_bytes())
            .op(b"\n")
    }
    fn tuple(&mut self, items: &[usize]) -> &mut Self {
        self.op(b"(");
        for &i in items {
            self.int(i);
        }
        self.op(b"t")
    }
    /// `torch._utils._rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())`.
    fn tensor(&mut self, key: &str, shape: &[usize]) -> &mut Self {
        let numel: usize = shape.iter().product();
        let mut stride = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        self.global("torch._utils", "_rebuild_tensor_v2").op(b"((");
        self.str("storage")
            .global("torch", "FloatStorage")
            .str(key)
            .str("cpu")
            .int(numel);
        self.op(b"N")
            .op(b"tQ")
            .int(0)
            .tuple(shape)
            .tuple(&stride)
            .op(b"\x89");
        self.global("collections", "OrderedDict")
            .op(b")R")
            .op(b"tR")
    }
    fn finish(&mut self) -> Vec<u8> {
        self.op(b".");
        std::mem::take(&mut self.0)
    }
}

/// Writes a legacy `torch.save` file: `{top: {prefix + name: tensor}, "epoch": 3}` when
/// `top` is given (a Lightning checkpoint), else `{name: tensor}`.
fn write_legacy_pt(path: &Path, tensors: &BTreeMap<String, Raw>, top: Option<&str>, prefix: &str) {
    let mut out = Vec::new();
    // Magic number, protocol version, system info.
    out.extend(
        Pickle::new()
            .op(b"\x8a\x0a")
            .op(&0x1950a86a20f9469cfc6cu128.to_le_bytes()[..10])
            .finish(),
    );
    out.extend(Pickle::new().op(b"M").op(&1001u16.to_le_bytes()).finish());
    let mut info = Pickle::new();
    info.op(b"}(")
        .str("protocol_version")
        .op(b"M")
        .op(&1001u16.to_le_bytes());
    info.str("little_endian")
        .op(b"\x88")
        .str("type_sizes")
        .op(b"}(");
    info.str("short")
        .op(b"K\x02")
        .str("int")
        .op(b"K\x04")
        .str("long")
        .op(b"K\x04")
        .op(b"uu");
    out.extend(info.finish());

    let keys: Vec<String> = (0..tensors.len())
        .map(|i| format!("{}", 1000 + i))
        .collect();
    let mut main = Pickle::new();
    if let Some(top) = top {
        main.op(b"}(").str(top);
    }
    main.op(b"}(");
    for ((name, t), key) in tensors.iter().zip(&keys) {
        main.str(&format!("{prefix}{name}")).tensor(key, &t.shape);
    }
    main.op(b"u");
    if top.is_some() {
        main.str("epoch").int(3).op(b"u");
    }
    out.extend(main.finish());

    let mut list = Pickle::new();
    list.op(b"](");
    for key in &keys {
        list.str(key);
    }
    out.extend(list.op(b"e").finish());
    for t in tensors.values() {
        out.extend((t.bytes.len() as u64 / 4).to_le_bytes());
        out.extend(&t.bytes);
    }
    std::fs::write(path, out).unwrap();
}

fn load(path: &Path) -> Result<VptPolicy, VptImportError> {
    VptPolicy::new(&VptConfig::tiny(), &Device::flex())
        .unwrap()
        .load_weights(path)
}

/// Output of a fixed input, to compare two loaded networks.
fn probe(policy: &VptPolicy) -> Vec<f32> {
    let device = Device::flex();
    let n = 2 * 4 * 16 * 16 * 3;
    let pixels: Vec<f32> = (0..n).map(|i| ((i * 37) % 256) as f32).collect();
    let image = Tensor::<5>::from_data(TensorData::new(pixels, [2, 4, 16, 16, 3]), &device);
    let (out, _) = policy.forward_frames(image, policy.initial_memory(2, &device));
    let mut v = out
        .pi_logits
        .camera
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    v.extend(out.vpred.into_data().try_into_vec_as::<f32>().unwrap());
    v
}

#[test]
fn pytorch_checkpoints_load_like_safetensors() {
    let tensors = read_safetensors(&golden_weights());
    assert!(
        tensors["value_head.normalizer.debiasing_term"]
            .shape
            .is_empty(),
        "a scalar buffer"
    );
    let reference = probe(&load(&golden_weights()).unwrap());

    let plain = temp_path("tiny_vpt.pt");
    write_legacy_pt(&plain, &tensors, None, "");
    assert_eq!(probe(&load(&plain).unwrap()), reference);

    let lightning = temp_path("tiny_vpt.ckpt");
    write_legacy_pt(&lightning, &tensors, Some("state_dict"), "mine_policy.");
    assert_eq!(probe(&load(&lightning).unwrap()), reference);
    for path in [plain, lightning] {
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn mismatched_weights_are_listed() {
    let mut tensors = read_safetensors(&golden_weights());
    tensors.remove("net.final_ln.bias");
    let extra = tensors["net.final_ln.weight"].clone();
    tensors.insert("net.extra_layer.weight".into(), extra);
    tensors
        .get_mut("net.recurrent_layer.blocks.0.r.orc_block.q_layer.weight")
        .unwrap()
        .shape = vec![16, 64];
    let path = temp_path("mismatched.safetensors");
    write_safetensors(&path, &tensors);

    let err = load(&path).expect_err("a mismatched file is refused");
    let VptImportError::Mismatch {
        missing,
        unexpected,
        mis_shaped,
        ..
    } = &err
    else {
        panic!("expected a mismatch, got {err}");
    };
    assert_eq!(missing, &["net.final_ln.bias"]);
    assert_eq!(unexpected, &["net.extra_layer.weight"]);
    assert_eq!(
        mis_shaped,
        &[
            "net.recurrent_layer.blocks.0.r.orc_block.q_layer.weight: file [16, 64] vs network [32, 32]"
        ]
    );
    let message = err.to_string();
    for name in [
        "net.final_ln.bias",
        "net.extra_layer.weight",
        "q_layer.weight",
        "VptConfig",
    ] {
        assert!(message.contains(name), "message names {name}: {message}");
    }

    // Unexpected tensors alone can be tolerated on request; missing ones never.
    let mut tensors = read_safetensors(&golden_weights());
    tensors.insert(
        "net.extra_layer.weight".into(),
        tensors["net.final_ln.weight"].clone(),
    );
    write_safetensors(&path, &tensors);
    assert!(matches!(load(&path), Err(VptImportError::Mismatch { .. })));
    let policy = VptPolicy::new(&VptConfig::tiny(), &Device::flex())
        .unwrap()
        .load_weights_with(
            &path,
            ImportOptions {
                allow_unexpected: true,
            },
        )
        .expect("extra tensors are ignored when allowed");
    assert_eq!(probe(&policy), probe(&load(&golden_weights()).unwrap()));
    let _ = std::fs::remove_file(path);
}

#[test]
fn wrong_config_and_bad_files_are_reported() {
    // The golden file under the small CPU config: every size differs.
    let err = VptPolicy::new(&VptConfig::small_cpu(), &Device::flex())
        .unwrap()
        .load_weights(golden_weights())
        .expect_err("weights of another size are refused");
    assert!(matches!(&err, VptImportError::Mismatch { mis_shaped, .. } if !mis_shaped.is_empty()));

    let missing = temp_path("does-not-exist.pt");
    assert!(matches!(load(&missing), Err(VptImportError::Io { .. })));

    let garbage = temp_path("garbage.pt");
    std::fs::write(&garbage, b"this is not a checkpoint at all").unwrap();
    let err = load(&garbage).expect_err("garbage is refused");
    assert!(matches!(err, VptImportError::Read { .. }), "{err}");
    let _ = std::fs::remove_file(garbage);
}
