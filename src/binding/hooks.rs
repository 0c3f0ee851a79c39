//! Test and benchmark builds only (the `test-hooks` feature, never published): fault
//! points that make the code panic on purpose, switches for the armed phase-1 file, and
//! the physical floors of the write path the benchmarks compare against. Kept apart so
//! the published surface in `binding` reads without them.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::MemoryDiagnosticsDumper;

/// Test builds only: makes the code panic at a named point (`phase1`, `phase2`, or a
/// probe name such as `status`) to prove that panics never reach Node.
#[napi(catch_unwind)]
pub fn test_arm_panic(point: String, on: bool) {
    crate::test_hooks::arm(&point, on);
}

/// Benchmark builds only: `mallinfo2`'s cost with `fragment` small blocks allocated and
/// every other one freed, and the slowest `malloc` of another thread without and with it.
#[napi(object)]
pub struct MallinfoBench {
    pub call_nanos: Vec<f64>,
    pub malloc_max_nanos_idle: f64,
    pub malloc_max_nanos_during: f64,
    pub free_retained_bytes: f64,
    pub in_use_bytes: f64,
}

#[napi(catch_unwind)]
pub fn bench_mallinfo2(fragment: u32, calls: u32) -> Result<MallinfoBench> {
    let b = crate::probes::malloc::bench::run(fragment as usize, calls as usize)
        .map_err(Error::from_reason)?;
    Ok(MallinfoBench {
        call_nanos: b.call_nanos.iter().map(|n| *n as f64).collect(),
        malloc_max_nanos_idle: b.malloc_max_nanos_idle as f64,
        malloc_max_nanos_during: b.malloc_max_nanos_during as f64,
        free_retained_bytes: b.free_retained_bytes as f64,
        in_use_bytes: b.in_use_bytes as f64,
    })
}

/// Test and benchmark builds only: the unarmed phase 1's own work (exclusive create,
/// write, no-replace rename) for `bytes`, with no serialization.
#[napi(catch_unwind)]
pub fn bench_write_floor(dir: String, name: String, bytes: Buffer) -> Result<()> {
    crate::writer::write_new(
        std::path::Path::new(&dir),
        &name,
        &bytes,
        crate::writer::Durability::ProcessCrash,
    )
    .map(|_| ())
    .map_err(|e| Error::from_reason(e.to_string()))
}

static FLOOR_ARMED: parking_lot::Mutex<Option<crate::writer::Armed>> =
    parking_lot::Mutex::new(None);

/// Test and benchmark builds only: opens (untimed) the pre-opened file for
/// [`bench_link_floor`].
#[napi(catch_unwind)]
pub fn bench_link_floor_arm(dir: String) -> Result<()> {
    let a = crate::writer::Armed::arm(std::path::Path::new(&dir), 64 * 1024)
        .map_err(|e| Error::from_reason(e.to_string()))?;
    *FLOOR_ARMED.lock() = Some(a);
    Ok(())
}

/// Test and benchmark builds only: the physical floor of armed phase 1, one write of
/// `bytes` into the pre-opened file and one link to `name`.
#[napi(catch_unwind)]
pub fn bench_link_floor(name: String, bytes: Buffer) -> Result<()> {
    let mut a = FLOOR_ARMED
        .lock()
        .take()
        .ok_or_else(|| Error::from_reason("benchLinkFloorArm() first"))?;
    a.land_bytes(&name, &bytes)
        .map(|_| ())
        .map_err(|e| Error::from_reason(e.to_string()))
}

/// Test builds only: switches the dumper's arming off (forcing the unarmed phase 1) or on.
#[napi(catch_unwind)]
pub fn test_set_arming(dumper: &MemoryDiagnosticsDumper, on: bool) {
    dumper.inner.arm_slot().set_disabled(!on);
    if on {
        dumper.inner.arm_slot().rearm();
    }
}

/// Test builds only: bytes reserved by the dumper's armed phase-1 file, or null when
/// none is armed.
#[napi(catch_unwind)]
pub fn test_armed_bytes(dumper: &MemoryDiagnosticsDumper) -> Option<f64> {
    dumper.inner.arm_slot().reserved().map(|b| b as f64)
}
