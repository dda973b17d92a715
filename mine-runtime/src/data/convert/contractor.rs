//! VPT contractor recordings (one JSON object per frame) to env actions and meta info, the way
//! MineStudio's `process_all_openai.py` pre-processes them.

use serde_json::Value;

use mine_dsl::action::{EnvActionFrame, button_index};

use crate::data::pickle::PyValue;

/// Mouse movement in pixels to degrees of camera rotation.
const CAMERA_SCALER: f64 = 360.0 / 2400.0;
/// Height of the recordings the cursor coordinates refer to.
const ORIGINAL_HEIGHT_PX: f64 = 720.0;

/// Keys the agent can press; others (`f` = swap hands, `Esc`, `t`, ...) are dropped.
const KEYBOARD: [(&str, &str); 19] = [
    ("key.keyboard.s", "back"),
    ("key.keyboard.q", "drop"),
    ("key.keyboard.w", "forward"),
    ("key.keyboard.1", "hotbar.1"),
    ("key.keyboard.2", "hotbar.2"),
    ("key.keyboard.3", "hotbar.3"),
    ("key.keyboard.4", "hotbar.4"),
    ("key.keyboard.5", "hotbar.5"),
    ("key.keyboard.6", "hotbar.6"),
    ("key.keyboard.7", "hotbar.7"),
    ("key.keyboard.8", "hotbar.8"),
    ("key.keyboard.9", "hotbar.9"),
    ("key.keyboard.e", "inventory"),
    ("key.keyboard.space", "jump"),
    ("key.keyboard.a", "left"),
    ("key.keyboard.d", "right"),
    ("key.keyboard.left.shift", "sneak"),
    ("key.keyboard.left.control", "sprint"),
    ("key.keyboard.escape", ""),
];

/// One processed frame of a recording.
#[derive(Clone, Debug, PartialEq)]
pub struct ContractorFrame {
    /// The env action.
    pub action: EnvActionFrame,
    /// The meta-info dict (MineStudio's privileged info + cursor).
    pub meta: PyValue,
    /// Where to draw the cursor (source-video pixels) while the GUI is open.
    pub cursor: Option<(i64, i64)>,
}

fn num(v: &Value, what: &str) -> Result<f64, String> {
    v.as_f64()
        .ok_or_else(|| format!("`{what}` is not a number"))
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, String> {
    path.iter()
        .try_fold(v, |cur, key| cur.get(key))
        .ok_or_else(|| format!("missing `{}`", path.join(".")))
}

fn ints(v: &Value, what: &str) -> Result<Vec<i64>, String> {
    v.as_array()
        .ok_or_else(|| format!("`{what}` is not a list"))?
        .iter()
        .map(|x| {
            x.as_i64()
                .ok_or_else(|| format!("`{what}` holds a non-integer"))
        })
        .collect()
}

/// A JSON value as the Python object `json.loads` gives.
pub fn json_to_py(v: &Value) -> PyValue {
    match v {
        Value::Null => PyValue::None,
        Value::Bool(b) => PyValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => PyValue::Int(i),
            None => PyValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => PyValue::Str(s.clone()),
        Value::Array(a) => PyValue::List(a.iter().map(json_to_py).collect()),
        Value::Object(o) => PyValue::Dict(
            o.iter()
                .map(|(k, v)| (PyValue::Str(k.clone()), json_to_py(v)))
                .collect(),
        ),
    }
}

/// `a - b` with Python's int/float rules.
fn py_sub(a: &PyValue, b: &PyValue) -> PyValue {
    match (a, b) {
        (PyValue::Int(x), PyValue::Int(y)) => PyValue::Int(x - y),
        _ => PyValue::Float(a.as_float().unwrap_or(f64::NAN) - b.as_float().unwrap_or(f64::NAN)),
    }
}

/// Item totals of an inventory list, in order of first appearance.
fn inventory_totals(inv: &Value) -> Result<Vec<(String, i64)>, String> {
    let mut out: Vec<(String, i64)> = Vec::new();
    for item in inv.as_array().ok_or("`inventory` is not a list")? {
        let t = field(item, &["type"])?
            .as_str()
            .ok_or("inventory `type` is not a string")?;
        let q = field(item, &["quantity"])?
            .as_i64()
            .ok_or("inventory `quantity` is not an int")?;
        match out.iter_mut().find(|(k, _)| k == t) {
            Some(slot) => slot.1 += q,
            None => out.push((t.to_string(), q)),
        }
    }
    Ok(out)
}

fn meta_info(cur: &Value, prev: Option<&Value>, cursor: (i64, i64)) -> Result<PyValue, String> {
    let get = |k: &str| field(cur, &[k]).map(json_to_py);
    let prev_num = |k: &str| {
        prev.and_then(|p| p.get(k))
            .map_or(PyValue::Int(0), json_to_py)
    };
    let mut delta_inventory = Vec::new();
    if let Some(prev_inv) = prev.and_then(|p| p.get("inventory")) {
        let before = inventory_totals(prev_inv)?;
        for (k, q) in inventory_totals(field(cur, &["inventory"])?)? {
            let d = q - before.iter().find(|(b, _)| *b == k).map_or(0, |(_, n)| *n);
            if d > 0 {
                delta_inventory.push((PyValue::Str(k), PyValue::Int(d)));
            }
        }
    }
    let s = |k: &str| PyValue::Str(k.to_string());
    Ok(PyValue::Dict(vec![
        (s("yaw"), get("yaw")?),
        (s("pitch"), get("pitch")?),
        (s("xpos"), get("xpos")?),
        (s("ypos"), get("ypos")?),
        (s("zpos"), get("zpos")?),
        (s("hotbar"), get("hotbar")?),
        (s("inventory"), get("inventory")?),
        (s("delta_yaw"), py_sub(&get("yaw")?, &prev_num("yaw"))),
        (s("delta_pitch"), py_sub(&get("pitch")?, &prev_num("pitch"))),
        (s("delta_inventory"), PyValue::Dict(delta_inventory)),
        (s("cursor_x"), PyValue::Int(cursor.0)),
        (s("cursor_y"), PyValue::Int(cursor.1)),
    ]))
}

fn set(action: &mut EnvActionFrame, name: &str) {
    if let Some(i) = button_index(name) {
        action.buttons[i] = true;
    }
}

/// Processes one recording segment (its JSON lines, in order).
///
/// `frame_height` is the source video's height (the cursor position is scaled from 720p).
/// Ported behaviour: camera = mouse `(dy, dx) * 0.15` degrees; keys mapped as in VPT (others
/// dropped, as are middle click and `Esc`); an attack button already held on the first frame
/// is "stuck" and removed until it is pressed anew; a change of the `hotbar` field presses
/// `hotbar.N` (covering number keys and the mouse wheel); while the GUI is open the cursor
/// position is recorded (and drawn by the caller).
pub fn process_segment(
    lines: &[Value],
    frame_height: usize,
) -> Result<Vec<ContractorFrame>, String> {
    let mut out = Vec::with_capacity(lines.len());
    let mut attack_stuck = false;
    let mut last_hotbar = 0i64;
    for (i, step) in lines.iter().enumerate() {
        let at = |e: String| format!("frame {i}: {e}");
        let new_buttons = ints(
            field(step, &["mouse", "newButtons"]).map_err(at)?,
            "mouse.newButtons",
        )
        .map_err(at)?;
        if i == 0 {
            attack_stuck = new_buttons == [0];
        } else if attack_stuck && new_buttons.contains(&0) {
            attack_stuck = false;
        }
        let mut buttons = ints(
            field(step, &["mouse", "buttons"]).map_err(at)?,
            "mouse.buttons",
        )
        .map_err(at)?;
        if attack_stuck {
            buttons.retain(|&b| b != 0);
        }
        let mut action = EnvActionFrame::default();
        let keys = field(step, &["keyboard", "keys"]).map_err(at)?;
        for key in keys
            .as_array()
            .ok_or_else(|| at("`keyboard.keys` is not a list".into()))?
        {
            let key = key.as_str().unwrap_or("");
            if let Some((_, name)) = KEYBOARD.iter().find(|(k, _)| *k == key) {
                set(&mut action, name);
            }
        }
        let dx = num(field(step, &["mouse", "dx"]).map_err(at)?, "mouse.dx").map_err(at)?;
        let dy = num(field(step, &["mouse", "dy"]).map_err(at)?, "mouse.dy").map_err(at)?;
        action.camera = [dy * CAMERA_SCALER, dx * CAMERA_SCALER];
        if buttons.contains(&0) {
            set(&mut action, "attack");
        }
        if buttons.contains(&1) {
            set(&mut action, "use");
        }
        let hotbar = field(step, &["hotbar"])
            .map_err(at)?
            .as_i64()
            .ok_or_else(|| at("`hotbar` is not an int".into()))?;
        if hotbar != last_hotbar {
            set(&mut action, &format!("hotbar.{}", hotbar + 1));
        }
        last_hotbar = hotbar;
        let gui_open = field(step, &["isGuiOpen"])
            .map_err(at)?
            .as_bool()
            .unwrap_or(false);
        let cursor = if gui_open {
            let scale = frame_height as f64 / ORIGINAL_HEIGHT_PX;
            let x = num(field(step, &["mouse", "x"]).map_err(at)?, "mouse.x").map_err(at)?;
            let y = num(field(step, &["mouse", "y"]).map_err(at)?, "mouse.y").map_err(at)?;
            Some(((x * scale).trunc() as i64, (y * scale).trunc() as i64))
        } else {
            None
        };
        let prev = i.checked_sub(1).map(|p| &lines[p]);
        let meta = meta_info(step, prev, cursor.unwrap_or((0, 0))).map_err(at)?;
        out.push(ContractorFrame {
            action,
            meta,
            cursor,
        });
    }
    Ok(out)
}

/// The action chunk dict in MineStudio's key order.
pub fn action_chunk(frames: &[EnvActionFrame]) -> PyValue {
    use crate::data::pickle::NdArray;
    const ORDER: [&str; 21] = [
        "back",
        "drop",
        "forward",
        "hotbar.1",
        "hotbar.2",
        "hotbar.3",
        "hotbar.4",
        "hotbar.5",
        "hotbar.6",
        "hotbar.7",
        "hotbar.8",
        "hotbar.9",
        "inventory",
        "jump",
        "left",
        "right",
        "sneak",
        "sprint",
        "camera",
        "attack",
        "use",
    ];
    let n = frames.len();
    PyValue::Dict(
        ORDER
            .iter()
            .map(|&key| {
                let array = if key == "camera" {
                    let v: Vec<f64> = frames.iter().flat_map(|a| a.camera).collect();
                    NdArray::from_f64(vec![n, 2], &v)
                } else {
                    let v: Vec<i64> = frames
                        .iter()
                        .map(|a| i64::from(a.pressed(key).unwrap_or(false)))
                        .collect();
                    NdArray::from_i64(vec![n], &v)
                };
                (PyValue::Str(key.to_string()), PyValue::Array(array))
            })
            .collect(),
    )
}
