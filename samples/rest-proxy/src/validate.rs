//! Request bodies checked as the original checks them (Joi, every problem
//! reported): JSON objects only, known fields only, every field a string,
//! required ones non-empty. The 400's text is the original's.

use serde_json::{Map, Value};

/// Ids (uid, serverId) are at most this many characters: the original's
/// clients send short ids, and every event of a session carries them.
pub const MAX_ID_CHARS: usize = 128;

/// A field of a body: its name, whether it is required, and its longest.
pub struct Field {
    pub name: &'static str,
    pub required: bool,
    pub max_chars: Option<usize>,
}

pub const OPEN: &[Field] = &[
    Field {
        name: "uid",
        required: true,
        max_chars: Some(MAX_ID_CHARS),
    },
    Field {
        name: "sceneId",
        required: true,
        max_chars: None,
    },
    Field {
        name: "characterId",
        required: false,
        max_chars: None,
    },
    Field {
        name: "playerName",
        required: false,
        max_chars: None,
    },
    Field {
        name: "serverId",
        required: false,
        max_chars: Some(MAX_ID_CHARS),
    },
];

pub const MESSAGE: &[Field] = &[Field {
    name: "message",
    required: true,
    max_chars: None,
}];

/// The body's fields as strings, or the 400's text. `json` is false when the
/// request was not `application/json` (then the body counts as empty, as
/// express.json() leaves it).
pub fn check(body: &[u8], json: bool, fields: &[Field]) -> Result<Map<String, Value>, String> {
    let object = if !json || body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(message(&["\"value\" must be of type object".to_string()])),
            Err(e) => return Err(message(&[format!("the body is not valid JSON ({e})")])),
        }
    };
    let mut problems = Vec::new();
    for field in fields {
        match object.get(field.name) {
            None | Some(Value::Null) if field.required => {
                problems.push(format!("\"{}\" is required", field.name))
            }
            None => {}
            Some(Value::String(s)) if s.is_empty() => {
                problems.push(format!("\"{}\" is not allowed to be empty", field.name))
            }
            Some(Value::String(s))
                if field.max_chars.is_some_and(|max| s.chars().count() > max) =>
            {
                problems.push(format!(
                    "\"{}\" length must be less than or equal to {} characters long",
                    field.name,
                    field.max_chars.unwrap_or_default()
                ))
            }
            Some(Value::String(_)) => {}
            Some(_) => problems.push(format!("\"{}\" must be a string", field.name)),
        }
    }
    for key in object.keys() {
        if !fields.iter().any(|f| f.name == key) {
            problems.push(format!("\"{key}\" is not allowed"));
        }
    }
    if problems.is_empty() {
        Ok(object)
    } else {
        Err(message(&problems))
    }
}

fn message(problems: &[String]) -> String {
    let listed: Vec<String> = problems.iter().map(|p| format!("{p}.")).collect();
    format!("Error validating request body. {}", listed.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_listed_in_the_originals_words() {
        let err = check(br#"{"uid": 5, "sceneId": "", "extra": "x"}"#, true, OPEN).unwrap_err();
        assert_eq!(
            err,
            "Error validating request body. \"uid\" must be a string. \"sceneId\" is not allowed to be empty. \"extra\" is not allowed."
        );
        let err = check(b"uid=1", false, OPEN).unwrap_err();
        assert_eq!(
            err,
            "Error validating request body. \"uid\" is required. \"sceneId\" is required."
        );
        assert!(check(b"{not json", true, OPEN)
            .unwrap_err()
            .starts_with("Error validating request body. "));
        let long = format!(r#"{{"uid": "{}", "sceneId": "s"}}"#, "u".repeat(129));
        assert_eq!(
            check(long.as_bytes(), true, OPEN).unwrap_err(),
            "Error validating request body. \"uid\" length must be less than or equal to 128 characters long."
        );
        let ok = check(br#"{"uid": "u1", "sceneId": "s"}"#, true, OPEN).unwrap();
        assert_eq!(ok["uid"], "u1");
    }
}
