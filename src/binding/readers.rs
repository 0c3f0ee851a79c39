//! Reading JS values into the core's plain ones: the trigger, `dump()`'s input (heap
//! statistics, heap spaces, resource usage, samples, session data) and the generic
//! readers the options use. Every read is bounded (keys, elements, string bytes) and
//! every failure names the field and what was expected; the rules themselves live in
//! `options` and `input`, shared with the JS implementation.

use std::ffi::c_char;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::{sys, KeyCollectionMode, KeyConversion, KeyFilter};

use crate::config::{InvalidArg, RawValue, Trigger};
use crate::dump::input::{
    InputChecker, TriggerInput, HEAP_STAT_FIELDS, MAX_HEAP_SPACES, MAX_RESOURCE_TYPES, MAX_SAMPLES,
    MAX_SAMPLE_KEYS, MAX_SESSION_KEYS, MAX_SESSION_KEY_CHARS, MAX_STRING_READ_BYTES,
    MEMORY_USAGE_FIELDS,
};
use crate::report::{AtTrigger, NamedNumbers};

pub(super) fn invalid(e: InvalidArg) -> Error {
    Error::new(Status::InvalidArg, e.to_string())
}

pub(super) fn parse_trigger(v: &Unknown) -> Result<Trigger> {
    let (raw, _) = raw_value(v, 64)?;
    match &raw {
        RawValue::Text(s) => Trigger::parse(s),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(InvalidArg::new(
            "trigger",
            Trigger::ACCEPTED,
            raw.describe(),
        ))
    })
}

pub(super) fn read_input(v: &Unknown) -> Result<TriggerInput> {
    let obj = expect_object(v, "input")?;
    let mut checker = InputChecker::new();
    let heap = expect_object(
        &obj.get_named_property::<Unknown>("heapStatistics")?,
        "input.heapStatistics",
    )?;
    let usage = expect_object(
        &obj.get_named_property::<Unknown>("memoryUsage")?,
        "input.memoryUsage",
    )?;
    let v8_heap_stats = number_map(&mut checker, "heapStatistics", &heap, HEAP_STAT_FIELDS)?;
    let memory_usage = number_map(&mut checker, "memoryUsage", &usage, MEMORY_USAGE_FIELDS)?;
    read_rest(
        checker,
        v8_heap_stats,
        memory_usage,
        Some(&obj.get_named_property::<Unknown>("heapSpaces")?),
        &obj.get_named_property::<Unknown>("session")?,
        Resources::Record(&obj.get_named_property::<Unknown>("activeResources")?),
        &obj.get_named_property::<Unknown>("samples")?,
    )
}

/// The rest of the input, beside heapStatistics and memoryUsage (read from the object or
/// from the lent figures block): heap spaces, session, active resources and samples, each
/// undefined or null when not given (heap spaces: `None` when read elsewhere).
pub(super) fn read_rest(
    mut checker: InputChecker,
    v8_heap_stats: crate::report::NumberMap,
    memory_usage: crate::report::NumberMap,
    spaces_v: Option<&Unknown>,
    session_v: &Unknown,
    resources_v: Resources,
    samples_v: &Unknown,
) -> Result<TriggerInput> {
    let Some(spaces_v) = spaces_v else {
        return read_others(
            checker,
            v8_heap_stats,
            memory_usage,
            None,
            session_v,
            resources_v,
            samples_v,
        );
    };
    let v8_heap_spaces = match spaces_v.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        _ if spaces_v.is_array()? => {
            // SAFETY: the value was checked to be an array (an object) on the line above.
            let arr = unsafe { spaces_v.cast::<Object>() }?;
            let len = arr.get_array_length()? as usize;
            if len > MAX_HEAP_SPACES {
                checker.too_many_spaces(len);
            }
            let mut spaces = Vec::with_capacity(len.min(MAX_HEAP_SPACES));
            for i in 0..len.min(MAX_HEAP_SPACES) {
                let item = arr.get_element::<Unknown>(i as u32)?;
                let Ok(space) = expect_object(&item, "heapSpaces[]") else {
                    checker.warnings.push(format!(
                        "heapSpaces[{i}]: expected an object, got {}; skipped",
                        type_name(&item)?
                    ));
                    continue;
                };
                let name = raw_value(&space.get_named_property::<Unknown>("space_name")?, 256)?.0;
                let mut err = None;
                let s = checker.heap_space(i, &name, |k| {
                    read_prop(&space, k).unwrap_or_else(|e| {
                        err = Some(e);
                        RawValue::Missing
                    })
                });
                if let Some(e) = err {
                    return Err(e);
                }
                spaces.push(s);
            }
            Some(spaces)
        }
        _ => {
            return Err(invalid(InvalidArg::new(
                "input.heapSpaces",
                "an array (v8.getHeapSpaceStatistics()) or undefined",
                type_name(spaces_v)?,
            )))
        }
    };
    read_others(
        checker,
        v8_heap_stats,
        memory_usage,
        v8_heap_spaces,
        session_v,
        resources_v,
        samples_v,
    )
}

/// Session, active resources and samples.
fn read_others(
    mut checker: InputChecker,
    v8_heap_stats: crate::report::NumberMap,
    memory_usage: crate::report::NumberMap,
    v8_heap_spaces: Option<Vec<crate::report::HeapSpace>>,
    session_v: &Unknown,
    resources_v: Resources,
    samples_v: &Unknown,
) -> Result<TriggerInput> {
    let mut session = Vec::new();
    match session_v.get_type()? {
        ValueType::Undefined | ValueType::Null => {}
        ValueType::Object if !session_v.is_array()? => {
            // SAFETY: the match arm checked the value is a non-array object.
            let sobj = unsafe { session_v.cast::<Object>() }?;
            let keys = sobj.get_all_property_names(
                KeyCollectionMode::OwnOnly,
                KeyFilter::Enumerable,
                KeyConversion::NumbersToStrings,
            )?;
            let n = keys.get_array_length()? as usize;
            if n > MAX_SESSION_KEYS {
                checker.too_many_session_keys(n);
            }
            for i in 0..n.min(MAX_SESSION_KEYS) {
                let key_v = keys.get_element::<Unknown>(i as u32)?;
                // The value is looked up by the key itself, not by its UTF-8 text, which
                // may be cut, hold a NUL or a replaced lone surrogate. Four bytes a
                // character: the text read holds the characters the document keeps.
                let value = sobj.get_property::<Unknown, Unknown>(key_v)?;
                let (RawValue::Text(key), key_cut) = raw_value(&key_v, MAX_SESSION_KEY_CHARS * 4)?
                else {
                    continue;
                };
                let (raw, cut) = raw_value(&value, MAX_STRING_READ_BYTES)?;
                if let Some(entry) = checker.session_entry(&key, key_cut, raw, cut, &session) {
                    session.push(entry);
                }
            }
        }
        _ => {
            return Err(invalid(InvalidArg::new(
                "input.session",
                "a flat object of numbers, strings and booleans, or undefined",
                type_name(session_v)?,
            )))
        }
    }

    let (resources_v, types) = match resources_v {
        Resources::Record(v) => (v, false),
        Resources::RecordOrTypes(v) => (v, true),
    };
    let active_resources = match resources_v.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        ValueType::Object if types && resources_v.is_array()? => Some(count_types(
            &mut checker,
            // SAFETY: the match arm checked the value is an array (an object).
            &unsafe { resources_v.cast::<Object>() }?,
        )?),
        ValueType::Object if !resources_v.is_array()? => Some(flat_numbers(
            &mut checker,
            "activeResources",
            // SAFETY: the match arm checked the value is a non-array object.
            &unsafe { resources_v.cast::<Object>() }?,
            MAX_RESOURCE_TYPES,
            true,
        )?),
        _ => {
            return Err(invalid(InvalidArg::new(
                "input.activeResources",
                "a flat object of counts by resource type, or undefined",
                type_name(resources_v)?,
            )))
        }
    };

    let samples = match samples_v.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        _ if samples_v.is_array()? => {
            // SAFETY: the value was checked to be an array (an object) on the line above.
            let arr = unsafe { samples_v.cast::<Object>() }?;
            let len = arr.get_array_length()? as usize;
            // The most recent samples are the ones that matter: keep the last ones.
            let first = len.saturating_sub(MAX_SAMPLES);
            if first > 0 {
                checker.cut("samples", "samples", len, "last", MAX_SAMPLES);
            }
            let mut out = Vec::with_capacity(len - first);
            for i in first..len {
                let item = arr.get_element::<Unknown>(i as u32)?;
                match item.get_type()? {
                    ValueType::Object if !item.is_array()? => {
                        // SAFETY: the match arm checked the value is a non-array object.
                        let o = unsafe { item.cast::<Object>() }?;
                        out.push(flat_numbers(
                            &mut checker,
                            &format!("samples[{i}]"),
                            &o,
                            MAX_SAMPLE_KEYS,
                            false,
                        )?);
                    }
                    _ => checker.warnings.push(format!(
                        "samples[{i}]: expected a flat object of numbers, got {}; skipped",
                        type_name(&item)?
                    )),
                }
            }
            Some(out)
        }
        _ => {
            return Err(invalid(InvalidArg::new(
                "input.samples",
                format!("an array of at most {MAX_SAMPLES} flat objects of numbers, or undefined"),
                type_name(samples_v)?,
            )))
        }
    };

    Ok(TriggerInput {
        at_trigger: AtTrigger {
            memory_usage,
            v8_heap_stats,
            v8_heap_spaces,
            active_resources,
        },
        session,
        warnings: checker.warnings,
        samples,
        watchdog: None,
        near_limit: None,
    })
}

/// A flat `name -> number` object, at most `max_keys` entries (the first ones kept).
fn flat_numbers(
    checker: &mut InputChecker,
    container: &str,
    obj: &Object,
    max_keys: usize,
    counts: bool,
) -> Result<NamedNumbers> {
    let keys = own_keys(obj)?;
    if keys.len() > max_keys {
        checker.cut(container, "keys", keys.len(), "first", max_keys);
    }
    let mut out = Vec::with_capacity(keys.len().min(max_keys));
    for key in keys.iter().take(max_keys) {
        let raw = read_prop(obj, key)?;
        if let Some(entry) = checker.named_number(container, key, &raw, counts) {
            out.push(entry);
        }
    }
    Ok(NamedNumbers(out))
}

/// Where `input.activeResources` comes from: the host's record of counts by type, or (from
/// the fast path (`lib/dumper/fast-path.js`) only) that record or the array of types
/// `process.getActiveResourcesInfo()` returned, counted here.
pub(super) enum Resources<'a> {
    Record(&'a Unknown<'a>),
    RecordOrTypes(&'a Unknown<'a>),
}

/// The types of `process.getActiveResourcesInfo()` counted by type, in the order each
/// first appears: the record the fast path (`lib/dumper/fast-path.js`) would otherwise build in JS (an object
/// and the keys' array that reading it through Node-API makes), checked as that record
/// is checked.
fn count_types(checker: &mut InputChecker, types: &Object) -> Result<NamedNumbers> {
    let n = types.get_array_length()?;
    let mut counts: Vec<(String, f64)> = Vec::new();
    for i in 0..n {
        if let (RawValue::Text(t), _) = raw_value(&types.get_element::<Unknown>(i)?, 256)? {
            match counts.iter_mut().find(|(k, _)| *k == t) {
                Some((_, c)) => *c += 1.0,
                None => counts.push((t, 1.0)),
            }
        }
    }
    if counts.len() > MAX_RESOURCE_TYPES {
        checker.cut(
            "activeResources",
            "keys",
            counts.len(),
            "first",
            MAX_RESOURCE_TYPES,
        );
    }
    Ok(NamedNumbers(
        counts
            .into_iter()
            .take(MAX_RESOURCE_TYPES)
            .filter_map(|(k, c)| {
                checker.named_number("activeResources", &k, &RawValue::Number(c), true)
            })
            .collect(),
    ))
}

/// The own enumerable string keys of an options object.
pub(super) fn own_keys(obj: &Object) -> Result<Vec<String>> {
    let keys = obj.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    let n = keys.get_array_length()?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        if let (RawValue::Text(k), _) = raw_value(&keys.get_element::<Unknown>(i)?, 256)? {
            out.push(k);
        }
    }
    Ok(out)
}

pub(super) fn number_map(
    checker: &mut InputChecker,
    container: &str,
    obj: &Object,
    fields: &[(&str, &'static str, bool)],
) -> Result<crate::report::NumberMap> {
    let mut err = None;
    let map = checker.number_map(container, fields, |k| {
        read_prop(obj, k).unwrap_or_else(|e| {
            err = Some(e);
            RawValue::Missing
        })
    });
    match err {
        Some(e) => Err(e),
        None => Ok(map),
    }
}

/// Reads one property for validation. The usual case, a number, costs two Node-API calls
/// (get it, read it as a double) and no allocation: the key is NUL-terminated on the stack.
fn read_prop(obj: &Object, key: &str) -> Result<RawValue> {
    let mut buf = [0u8; 64];
    let bytes = key.as_bytes();
    if bytes.len() >= buf.len() || bytes.contains(&0) {
        return raw_value(&obj.get_named_property::<Unknown>(key)?, 64).map(|v| v.0);
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    let env = obj.value().env;
    let mut value = ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated (its length was checked above) and outlives the call; `obj` and `env` belong to the current call.
    check_status!(unsafe {
        sys::napi_get_named_property(env, obj.raw(), buf.as_ptr() as *const c_char, &mut value)
    })?;
    let mut n = 0f64;
    // SAFETY: `value` was just returned by `napi_get_named_property` in this env; a non-number gives an error status, not UB.
    if unsafe { sys::napi_get_value_double(env, value, &mut n) } == sys::Status::napi_ok {
        return Ok(RawValue::Number(n));
    }
    // SAFETY: `value` is a live handle in this env (see above).
    let v = unsafe { Unknown::from_napi_value(env, value) }?;
    raw_value(&v, 64).map(|v| v.0)
}

pub(super) fn expect_object<'env>(v: &Unknown<'env>, field: &str) -> Result<Object<'env>> {
    match v.get_type()? {
        // SAFETY: the value's type was checked to be an object by the match.
        ValueType::Object => Ok(unsafe { v.cast::<Object>() }?),
        _ => Err(invalid(InvalidArg::new(field, "an object", type_name(v)?))),
    }
}

fn type_name(v: &Unknown) -> Result<String> {
    Ok(match v.get_type()? {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object if v.is_array()? => "an array",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::External => "an external",
        ValueType::BigInt => "a bigint",
        _ => "an unknown value",
    }
    .to_string())
}

/// An options value read whole for validation: objects (down to `depth` levels) as
/// their own enumerable keys and values, arrays as their items (at most
/// `config::MAX_LIST_ITEMS`: more is not a list of triggers), strings whole, anything
/// else by its kind.
pub(super) fn raw_tree(v: &Unknown, depth: u8) -> Result<RawValue> {
    match v.get_type()? {
        ValueType::Object if v.is_array()? => {
            // SAFETY: the value was checked to be an array (an object) just above.
            let arr = unsafe { v.cast::<Object>() }?;
            let len = arr.get_array_length()?;
            if len as usize > crate::config::MAX_LIST_ITEMS {
                return Ok(RawValue::Other("array"));
            }
            (0..len)
                .map(|i| raw_value(&arr.get_element::<Unknown>(i)?, 64).map(|v| v.0))
                .collect::<Result<Vec<_>>>()
                .map(RawValue::List)
        }
        ValueType::Object if depth > 0 => {
            // SAFETY: the match checked the value is an object.
            let obj = unsafe { v.cast::<Object>() }?;
            let keys = own_keys(&obj)?;
            let mut kv = Vec::with_capacity(keys.len());
            for k in keys {
                let value = obj.get_named_property::<Unknown>(&k)?;
                kv.push((k, raw_tree(&value, depth - 1)?));
            }
            Ok(RawValue::Object(kv))
        }
        _ => raw_value(v, usize::MAX).map(|v| v.0),
    }
}

/// Converts a JS value for validation, reading at most `max_bytes` of a string. The
/// flag says the string was longer than that.
pub(super) fn raw_value(v: &Unknown, max_bytes: usize) -> Result<(RawValue, bool)> {
    Ok(match v.get_type()? {
        ValueType::Undefined => (RawValue::Missing, false),
        ValueType::Null => (RawValue::Other("null"), false),
        // SAFETY: the match checked the value is a number.
        ValueType::Number => (RawValue::Number(unsafe { v.cast::<f64>() }?), false),
        // SAFETY: the match checked the value is a boolean.
        ValueType::Boolean => (RawValue::Bool(unsafe { v.cast::<bool>() }?), false),
        ValueType::String => {
            let (s, cut) = read_string_bounded(v, max_bytes)?;
            (RawValue::Text(s), cut)
        }
        ValueType::Object if v.is_array()? => (RawValue::Other("array"), false),
        ValueType::Object => (RawValue::Other("object"), false),
        ValueType::Function => (RawValue::Other("function"), false),
        ValueType::BigInt => (RawValue::Other("bigint"), false),
        ValueType::Symbol => (RawValue::Other("symbol"), false),
        _ => (RawValue::Other("unknown"), false),
    })
}

fn read_string_bounded(v: &Unknown, max_bytes: usize) -> Result<(String, bool)> {
    let env = v.value().env;
    let value = v.raw();
    let mut len = 0usize;
    // SAFETY: `value` is a string handle (checked by the caller's match) in this env; a null buffer asks only for the length.
    check_status!(unsafe {
        sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len)
    })?;
    let want = len.min(max_bytes);
    let mut buf = vec![0u8; want + 1];
    let mut written = 0usize;
    // SAFETY: `buf` holds `buf.len()` writable bytes, room for `want` bytes and the NUL Node-API appends.
    check_status!(unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr() as *mut c_char,
            buf.len(),
            &mut written,
        )
    })?;
    buf.truncate(written);
    let s = match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok((s, len > max_bytes))
}
