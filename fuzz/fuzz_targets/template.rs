//! Reply templating: any line, any values. Filling in must end, never read
//! a value again, and keep what is no placeholder as it is.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The line, then the values, separated by NUL; then parameters as name, value pairs.
    let mut parts = text.split('\0');
    let template = parts.next().unwrap_or("");
    let player = parts.next().unwrap_or("");
    let character = parts.next().unwrap_or("");
    let said = parts.next().unwrap_or("");
    let previous = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let params: Vec<(String, String)> = rest
        .chunks(2)
        .map(|p| (p[0].to_string(), p.get(1).unwrap_or(&"").to_string()))
        .collect();
    let out =
        inworld::engine::fuzzing::fill_in(template, player, character, said, previous, &params);
    if !template.contains('{') {
        assert_eq!(out, template);
    }
    // Each `{` of the line is replaced at most once, by at most the longest value.
    let longest = [player, character, said, previous, "traveller"]
        .iter()
        .map(|v| v.len())
        .chain(params.iter().map(|(_, v)| v.len()))
        .max()
        .unwrap_or(0);
    let opens = template.matches('{').count();
    assert!(out.len() <= template.len() + opens * longest);
});
