//! A second Rust static library, as a game might link beside ours (its own
//! standard library, allocator hooks and panic machinery): the static link
//! test (scripts/cross-test.sh) links both into one C program and runs it.
//! Built with plain rustc, not cargo: it is not part of the workspace.

#[no_mangle]
pub extern "C" fn other_sum_of_squares(n: u32) -> u64 {
    let squares: Vec<u64> = (1..=u64::from(n)).map(|i| i * i).collect();
    squares.iter().sum()
}

#[no_mangle]
pub extern "C" fn other_caught_panic() -> i32 {
    // Unwinding inside this library must still work beside ours.
    std::panic::catch_unwind(|| panic!("caught")).map_or(1, |()| 0)
}
