//! The whole default browser demo run natively, printing per epoch what the page plots (λmax,
//! parameter-free ops chosen, accuracy), with and without DARTS-ES: for checking what the page's
//! text tells students to look for. A minute or more on a 2-core CPU:
//! `cargo run --release -p rdarts-web --example whole_demo`

use rdarts_core::block_on;
use rdarts_web::demo::{Demo, DemoSettings, Update};

fn main() -> Result<(), rdarts_core::CoreError> {
    let device = rdarts_core::backend::cpu().device;
    for settings in [DemoSettings::default(), DemoSettings { early_stop: true, ..DemoSettings::default() }] {
        println!("DARTS-ES {}", if settings.early_stop { "on" } else { "off" });
        let mut demo = Demo::new(&settings, &device)?;
        while !demo.finished() {
            if let Update::Epoch(p) = block_on(demo.advance())? {
                println!(
                    "epoch {:>2}: λmax {:.4}  parameter-free {}  train acc {:.2}  valid acc {:.2}",
                    p.epoch + 1,
                    p.lambda_max.unwrap_or(f64::NAN),
                    p.parameter_free,
                    p.train_acc,
                    p.valid_acc
                );
            }
        }
        match block_on(demo.state()).early_stop {
            Some((epoch, genotype)) => println!("DARTS-ES's answer: the genotype of epoch {}: {genotype}", epoch + 1),
            None => println!("the DARTS-ES rule never fired"),
        }
    }
    Ok(())
}
