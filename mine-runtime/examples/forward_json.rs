//! Our VPT forward pass on a MineStudio reference input, in the JSON layout of
//! `examples/reference/check_export.py`, for comparing an export side by side with MineStudio:
//!
//! ```sh
//! cargo run --release -p mine-runtime --example forward_json -- WEIGHTS INPUT_JSON > ours.json
//! python mine-runtime/examples/reference/check_export.py DIR INPUT_JSON --expect ours.json
//! ```
//!
//! WEIGHTS is anything `policy.weights` accepts that carries its configuration (an exported
//! directory, a Hub directory, a run directory). INPUT_JSON is in the layout of
//! `tests/fixtures/checkpoints/forward.json`; the memory starts from the initial state.

use std::process::ExitCode;

use burn::tensor::{Device, Tensor, TensorData};
use mine_dsl::policy::Policy;
use mine_runtime::policies::pretrained::build_pretrained;
use mine_runtime::policies::vpt::VptPolicy;
use serde_json::{Value, json};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [weights, input] = &args[..] else {
        eprintln!("usage: forward_json WEIGHTS INPUT_JSON");
        return ExitCode::from(2);
    };
    match run(weights, input) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("forward_json: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(weights: &str, input: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let device = Device::flex();
    let (policy, _) =
        build_pretrained::<VptPolicy>(&toml::Table::new(), Some(weights.as_ref()), &device)?;
    let input: Value = serde_json::from_str(&std::fs::read_to_string(input)?)?;
    let image = &input["input"]["image"];
    let shape: Vec<usize> = serde_json::from_value(image["shape"].clone())?;
    let data: Vec<f32> = serde_json::from_value::<Vec<u8>>(image["data"].clone())?
        .into_iter()
        .map(f32::from)
        .collect();
    let batch = shape[0];
    let image = Tensor::<5>::from_data(TensorData::new(data, shape), &device);
    let (out, _) = policy.forward_frames(image, policy.initial_memory(batch, &device));
    let tensor =
        |dims: Vec<usize>, data: TensorData| -> Result<Value, Box<dyn std::error::Error>> {
            let values = data.convert::<f32>().try_into_vec::<f32>()?;
            Ok(json!({"shape": dims, "dtype": "float32", "data": values}))
        };
    Ok(json!({"output": {
        "pi_logits": {
            "buttons": tensor(out.pi_logits.buttons.dims().to_vec(), out.pi_logits.buttons.into_data())?,
            "camera": tensor(out.pi_logits.camera.dims().to_vec(), out.pi_logits.camera.into_data())?,
        },
        "vpred": tensor(out.vpred.dims().to_vec(), out.vpred.into_data())?,
    }}))
}
