//! Fuzz target: block checkpoints (`block_from_safetensors`); an accepted
//! block must evaluate or refuse cleanly.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wasserflow::Tensor;
use wasserflow::flows::{BlockFlow, EvalOptions};
use wasserflow::io::checkpoint::block_from_safetensors;
use wasserflow::io::safetensors::SafeTensors;

fuzz_target!(|bytes: &[u8]| {
    let Ok(file) = SafeTensors::parse(bytes.to_vec(), Path::new("block-0001.safetensors")) else { return };
    if let Ok((block, _)) = block_from_safetensors::<f32>(&file) {
        let d = block.spec.dim;
        if d > 64 || block.spec.grid.len() > 1000 {
            return; // valid but slow to evaluate; loading it was the point
        }
        let x = Tensor::<f32>::from_vec(vec![0.5; 2 * d], [2, d]).unwrap();
        let mut flow = BlockFlow::new(d);
        flow.push(block).unwrap();
        let _ = flow.transport(&x, EvalOptions::default());
    }
});
