//! Build script: napi-rs linker setup for the Node.js addon.

fn main() {
    napi_build::setup();
}
