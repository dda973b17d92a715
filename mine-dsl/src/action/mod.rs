//! The VPT action space: camera quantizer, hierarchical button/camera mapping, action head.
