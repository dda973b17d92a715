//! The VPT action space: quantizer plus hierarchical joint button / camera mapping
//! (MineStudio's `ActionTransformer` + `CameraHierarchicalMapping`).

use std::sync::OnceLock;

use super::buttons::{BUTTON_GROUPS, CAMERA_META_OPTIONS, INVENTORY, n_button_classes};
use super::{
    ActionError, ActionSpaceConfig, AgentActionFrame, CameraDType, CameraQuantizer, EnvActionFrame,
    FactoredActionFrame,
};

/// The VPT action space: maps environment actions to the policy's class indices and back.
///
/// The joint button class enumerates every combination of the mutually exclusive groups
/// (hotbar, forward/back, left/right, sprint/sneak, use, drop, attack, jump, camera on/off), the
/// last group varying fastest, plus a final "inventory" class. The camera class is
/// `pitch_bin * n_camera_bins + yaw_bin`. The tables are built once from these rules.
///
/// ```
/// use mine_dsl::action::{ActionSpace, AgentActionFrame, EnvActionFrame, button_index};
///
/// let space = ActionSpace::vpt();
/// assert_eq!((space.n_buttons(), space.n_camera(), space.null_camera()), (8641, 121, 60));
///
/// let mut env = EnvActionFrame::default();
/// env.buttons[button_index("attack").unwrap()] = true;
/// env.camera = [0.0, 3.0]; // pitch, yaw in degrees
/// let agent = space.env_to_agent(&env);
/// assert_eq!(agent, AgentActionFrame { buttons: 5, camera: 63 });
///
/// let back = space.agent_to_env(agent)?;
/// assert!(back.buttons[button_index("attack").unwrap()]);
/// assert_eq!(back.camera[0], 0.0);
/// assert!((back.camera[1] - 3.215369133091899).abs() < 1e-12); // centre of bin 8
/// # Ok::<(), mine_dsl::action::ActionError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ActionSpace {
    config: ActionSpaceConfig,
    quantizer: CameraQuantizer,
    /// Factored buttons of each joint button class.
    button_factored: Vec<[bool; 20]>,
    /// Whether each joint button class has its camera meta action off.
    camera_meta_off: Vec<bool>,
    /// `[pitch_bin, yaw_bin]` of each joint camera class.
    camera_bins: Vec<[u32; 2]>,
}

impl ActionSpace {
    /// The shared VPT action space ([`ActionSpaceConfig::vpt`]), built on first use.
    pub fn vpt() -> &'static ActionSpace {
        static VPT: OnceLock<ActionSpace> = OnceLock::new();
        VPT.get_or_init(|| Self::build(ActionSpaceConfig::vpt()))
    }

    /// An action space for a validated configuration.
    pub fn new(config: ActionSpaceConfig) -> Result<ActionSpace, ActionError> {
        config.validate()?;
        Ok(Self::build(config))
    }

    fn build(config: ActionSpaceConfig) -> ActionSpace {
        let n_bins = config.n_camera_bins;
        let n_buttons = n_button_classes();
        let mut button_factored = Vec::with_capacity(n_buttons);
        let mut camera_meta_off = Vec::with_capacity(n_buttons);
        for class in 0..n_buttons - 1 {
            // Decode the mixed-radix index, last group (camera meta) fastest.
            let mut rest = class;
            let camera_on = rest % CAMERA_META_OPTIONS == 1;
            rest /= CAMERA_META_OPTIONS;
            let mut pressed = [false; 20];
            for group in BUTTON_GROUPS.iter().rev() {
                let choice = rest % group.n_options();
                rest /= group.n_options();
                if choice > 0 {
                    pressed[group.buttons[choice - 1]] = true;
                }
            }
            button_factored.push(pressed);
            camera_meta_off.push(!camera_on);
        }
        // The inventory class; MineStudio leaves its camera meta flag off (= camera kept).
        let mut inventory = [false; 20];
        inventory[INVENTORY] = true;
        button_factored.push(inventory);
        camera_meta_off.push(false);
        let camera_bins = (0..n_bins)
            .flat_map(|pitch| (0..n_bins).map(move |yaw| [pitch, yaw]))
            .collect();
        ActionSpace {
            quantizer: CameraQuantizer::new(&config),
            config,
            button_factored,
            camera_meta_off,
            camera_bins,
        }
    }

    /// The configuration this space was built from.
    pub fn config(&self) -> &ActionSpaceConfig {
        &self.config
    }

    /// The camera quantizer (degrees <-> bins).
    pub fn quantizer(&self) -> &CameraQuantizer {
        &self.quantizer
    }

    /// Number of joint button classes (8641 for VPT).
    pub fn n_buttons(&self) -> usize {
        self.button_factored.len()
    }

    /// Number of joint camera classes, `n_camera_bins^2` (121 for VPT).
    pub fn n_camera(&self) -> usize {
        self.camera_bins.len()
    }

    /// Bins per camera axis (11 for VPT).
    pub fn n_camera_bins(&self) -> u32 {
        self.config.n_camera_bins
    }

    /// The bin of zero camera movement on each axis (5 for VPT).
    pub fn null_camera_bin(&self) -> u32 {
        self.config.n_camera_bins / 2
    }

    /// The camera class of "no movement" (60 for VPT).
    pub fn null_camera(&self) -> u32 {
        self.null_camera_bin() * self.config.n_camera_bins + self.null_camera_bin()
    }

    /// The button class of "no button" with the camera meta action off (0).
    pub fn null_buttons(&self) -> u32 {
        0
    }

    /// The button class of "inventory" (the last one, 8640 for VPT).
    pub fn inventory_buttons(&self) -> u32 {
        (self.n_buttons() - 1) as u32
    }

    /// The factored buttons a joint button class presses; `None` when out of range.
    pub fn button_class_buttons(&self, class: u32) -> Option<[bool; 20]> {
        self.button_factored.get(class as usize).copied()
    }

    /// Whether a joint button class turns the camera off (its camera meta option is "none");
    /// `None` when out of range. The inventory class keeps the camera, as in MineStudio.
    pub fn camera_meta_off(&self, class: u32) -> Option<bool> {
        self.camera_meta_off.get(class as usize).copied()
    }

    /// The `[pitch_bin, yaw_bin]` of a joint camera class; `None` when out of range.
    pub fn camera_class_bins(&self, class: u32) -> Option<[u32; 2]> {
        self.camera_bins.get(class as usize).copied()
    }

    /// Env -> factored: quantizes the camera (MineStudio's `env2policy`).
    pub fn env_to_factored(&self, env: &EnvActionFrame) -> FactoredActionFrame {
        FactoredActionFrame {
            camera: env
                .camera
                .map(|deg| self.quantizer.discretize_as(deg, env.camera_dtype)),
            buttons: env.buttons,
        }
    }

    /// Factored -> agent (MineStudio's `from_factored`): forward+back and left+right cancel,
    /// the later option of a group wins, the camera meta action is on unless both bins are the
    /// null bin, and "inventory" overrides every other button and forces the null camera.
    pub fn factored_to_agent(
        &self,
        factored: &FactoredActionFrame,
    ) -> Result<AgentActionFrame, ActionError> {
        let n_bins = self.config.n_camera_bins;
        if let Some(&bin) = factored.camera.iter().find(|&&b| b >= n_bins) {
            return Err(ActionError::CameraBinOutOfRange {
                bin,
                n_camera_bins: n_bins,
            });
        }
        if factored.buttons[INVENTORY] {
            return Ok(AgentActionFrame {
                buttons: self.inventory_buttons(),
                camera: self.null_camera(),
            });
        }
        let mut class = 0usize;
        for group in &BUTTON_GROUPS {
            class = class * group.n_options() + group.choice(&factored.buttons);
        }
        let null = self.null_camera_bin();
        let camera_on = factored.camera != [null, null];
        class = class * CAMERA_META_OPTIONS + usize::from(camera_on);
        Ok(AgentActionFrame {
            buttons: class as u32,
            camera: factored.camera[0] * n_bins + factored.camera[1],
        })
    }

    /// Env -> agent: quantize, then map to the joint classes.
    pub fn env_to_agent(&self, env: &EnvActionFrame) -> AgentActionFrame {
        let factored = self.env_to_factored(env);
        // Quantized bins are always within 0..n_camera_bins for a validated config.
        self.factored_to_agent(&factored)
            .unwrap_or(AgentActionFrame {
                buttons: self.null_buttons(),
                camera: self.null_camera(),
            })
    }

    /// Agent -> factored (MineStudio's `to_factored`): table look-ups, with the camera forced to
    /// the null bins when the button class has its camera meta action off.
    pub fn agent_to_factored(
        &self,
        agent: AgentActionFrame,
    ) -> Result<FactoredActionFrame, ActionError> {
        let buttons =
            self.button_class_buttons(agent.buttons)
                .ok_or(ActionError::ButtonClassOutOfRange {
                    class: i64::from(agent.buttons),
                    n_buttons: self.n_buttons(),
                })?;
        let mut camera =
            self.camera_class_bins(agent.camera)
                .ok_or(ActionError::CameraClassOutOfRange {
                    class: i64::from(agent.camera),
                    n_camera: self.n_camera(),
                })?;
        if self.camera_meta_off[agent.buttons as usize] {
            camera = [self.null_camera_bin(); 2];
        }
        Ok(FactoredActionFrame { camera, buttons })
    }

    /// Factored -> env: camera bins to their centres in degrees (MineStudio's `policy2env`).
    pub fn factored_to_env(&self, factored: &FactoredActionFrame) -> EnvActionFrame {
        EnvActionFrame {
            camera: factored.camera.map(|bin| self.quantizer.undiscretize(bin)),
            buttons: factored.buttons,
            camera_dtype: CameraDType::F64,
        }
    }

    /// Agent -> env; an out-of-range class is an error.
    pub fn agent_to_env(&self, agent: AgentActionFrame) -> Result<EnvActionFrame, ActionError> {
        Ok(self.factored_to_env(&self.agent_to_factored(agent)?))
    }
}
