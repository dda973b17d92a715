//! MineStudio's 20 factored buttons and the mutually exclusive groups VPT builds from them.

/// The 20 factored Minecraft buttons, in MineStudio's `Buttons.ALL` order.
///
/// Every `[.., 20]` button vector of this crate ([`EnvActionFrame::buttons`](super::EnvActionFrame),
/// [`EnvAction::buttons`](crate::batch::EnvAction)) uses this order.
pub const BUTTONS_ALL: [&str; 20] = [
    "attack",
    "back",
    "forward",
    "jump",
    "left",
    "right",
    "sneak",
    "sprint",
    "use",
    "drop",
    "inventory",
    "hotbar.1",
    "hotbar.2",
    "hotbar.3",
    "hotbar.4",
    "hotbar.5",
    "hotbar.6",
    "hotbar.7",
    "hotbar.8",
    "hotbar.9",
];

/// Index of the `inventory` button in [`BUTTONS_ALL`].
pub const INVENTORY: usize = 10;

/// The index of a button in [`BUTTONS_ALL`], by its MineStudio name (`"attack"`, `"hotbar.3"`).
///
/// ```
/// use mine_dsl::action::button_index;
/// assert_eq!(button_index("attack"), Some(0));
/// assert_eq!(button_index("hotbar.9"), Some(19));
/// assert_eq!(button_index("fly"), None);
/// ```
pub fn button_index(name: &str) -> Option<usize> {
    BUTTONS_ALL.iter().position(|b| *b == name)
}

/// One mutually exclusive button group of the joint button space.
///
/// Option 0 is always "none"; option `k >= 1` presses `buttons[k - 1]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ButtonGroup {
    /// Indices in [`BUTTONS_ALL`] of the group's options after "none", in group order.
    pub buttons: &'static [usize],
    /// Whether pressing every button of the group at once means "none" (forward+back,
    /// left+right cancel out).
    pub cancel_when_all: bool,
}

impl ButtonGroup {
    /// Number of options including "none".
    pub const fn n_options(&self) -> usize {
        self.buttons.len() + 1
    }

    /// The chosen option for a factored button vector: the LATER pressed option of the group
    /// wins, and a fully pressed cancelling group is "none" (MineStudio's
    /// `factored_buttons_to_groups`).
    pub fn choice(&self, pressed: &[bool; 20]) -> usize {
        if self.cancel_when_all && self.buttons.iter().all(|&b| pressed[b]) {
            return 0;
        }
        self.buttons
            .iter()
            .rposition(|&b| pressed[b])
            .map_or(0, |k| k + 1)
    }
}

/// VPT's button groups in joint-index order (hotbar, fore_back, left_right, sprint_sneak, use,
/// drop, attack, jump); the camera meta group ("none", "camera") comes after them.
pub(crate) const BUTTON_GROUPS: [ButtonGroup; 8] = [
    ButtonGroup {
        buttons: &[11, 12, 13, 14, 15, 16, 17, 18, 19],
        cancel_when_all: false,
    },
    // forward, back
    ButtonGroup {
        buttons: &[2, 1],
        cancel_when_all: true,
    },
    // left, right
    ButtonGroup {
        buttons: &[4, 5],
        cancel_when_all: true,
    },
    // sprint, sneak
    ButtonGroup {
        buttons: &[7, 6],
        cancel_when_all: false,
    },
    // use
    ButtonGroup {
        buttons: &[8],
        cancel_when_all: false,
    },
    // drop
    ButtonGroup {
        buttons: &[9],
        cancel_when_all: false,
    },
    // attack
    ButtonGroup {
        buttons: &[0],
        cancel_when_all: false,
    },
    // jump
    ButtonGroup {
        buttons: &[3],
        cancel_when_all: false,
    },
];

/// Number of options of the camera meta group ("none", "camera").
pub(crate) const CAMERA_META_OPTIONS: usize = 2;

/// Number of joint button classes: the product of all group sizes, plus one for "inventory".
pub(crate) const fn n_button_classes() -> usize {
    let mut n = CAMERA_META_OPTIONS;
    let mut i = 0;
    while i < BUTTON_GROUPS.len() {
        n *= BUTTON_GROUPS[i].n_options();
        i += 1;
    }
    n + 1
}
