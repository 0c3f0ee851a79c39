import json
num_or_null = {"type": ["number", "null"], "minimum": 0}
int_or_null = {"type": ["integer", "null"], "minimum": 0}
uint = {"type": "integer", "minimum": 0}
def obj(props, required=None, nullable=False, desc=None):
    o = {"type": ["object", "null"] if nullable else "object", "additionalProperties": False, "properties": props,
         "required": list(props.keys()) if required is None else required}
    if desc: o["description"] = desc
    return o
heap_fields = ["totalHeapSize","totalHeapSizeExecutable","totalPhysicalSize","totalAvailableSize","usedHeapSize","heapSizeLimit","mallocedMemory","peakMallocedMemory","doesZapGarbage","numberOfNativeContexts","numberOfDetachedContexts","totalGlobalHandlesSize","usedGlobalHandlesSize","externalMemory"]
mem_fields = ["rss","heapTotal","heapUsed","external","arrayBuffers"]
space_fields = ["spaceSize","spaceUsedSize","spaceAvailableSize","physicalSpaceSize"]
status_fields = ["vmPeak","vmSize","vmHwm","vmRss","rssAnon","rssFile","rssShmem","vmData","vmStk","vmExe","vmLib","vmPte","vmSwap","threads","voluntaryCtxtSwitches","nonvoluntaryCtxtSwitches"]
defs = {
  "bytesOrNull": num_or_null,
  "memoryUsage": obj({k: {"$ref": "#/$defs/bytesOrNull"} for k in mem_fields}, desc="process.memoryUsage() as passed; null where the host passed a malformed value"),
  "v8HeapStats": obj({k: {"$ref": "#/$defs/bytesOrNull"} for k in heap_fields}, desc="v8.getHeapStatistics() as passed, keys in camelCase"),
  "heapSpace": obj({"spaceName": {"type": ["string", "null"], "maxLength": 64}, **{k: {"$ref": "#/$defs/bytesOrNull"} for k in space_fields}}),
  "psiLine": obj({"avg10": {"type": "number", "minimum": 0}, "avg60": {"type": "number", "minimum": 0}, "avg300": {"type": "number", "minimum": 0}, "totalMicros": uint}),
  "psi": obj({"some": {"$ref": "#/$defs/psiLine"}, "full": {"oneOf": [{"$ref": "#/$defs/psiLine"}, {"type": "null"}]}}, nullable=True),
}
process = obj({
  "status": obj({k: int_or_null for k in status_fields}, nullable=True, desc="/proc/self/status; memory in bytes"),
  "smapsRollup": {"type": ["object", "null"], "description": "/proc/self/smaps_rollup, bytes, camelCase keys",
                  "propertyNames": {"pattern": "^[a-z][A-Za-z0-9]*$"}, "additionalProperties": uint},
  "openFds": int_or_null,
  "openFdsLimit": int_or_null,
  "resourceUsage": obj({k: uint for k in ["userCpuMicros","systemCpuMicros","maxRssBytes","minorPageFaults","majorPageFaults","voluntaryContextSwitches","involuntaryContextSwitches"]}, nullable=True),
  "pageFaults": obj({"minor": uint, "major": uint}, nullable=True),
  "oomScore": obj({"score": {"type": ["integer", "null"]}, "adj": {"type": ["integer", "null"], "minimum": -1000, "maximum": 1000}}, nullable=True),
  "mappings": obj({"total": uint, "fileBacked": uint, "truncated": {"type": "boolean"}}, nullable=True),
  "uptimeSeconds": num_or_null,
})
system = obj({
  "totalMemory": uint, "availableMemory": uint, "freeMemory": uint, "swapTotal": uint, "swapFree": uint, "uptimeSeconds": uint,
  "loadAverage": {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 3, "maxItems": 3},
  "cpuCount": {"type": "integer", "minimum": 1},
  "kernelVersion": {"type": ["string", "null"]}, "osVersion": {"type": ["string", "null"]},
  "meminfo": obj({k: int_or_null for k in ["buffers","cached","shmem","sReclaimable","dirty","commitLimit","committedAs"]}, nullable=True),
})
collection = obj({
  "phase1Micros": uint,
  "phase1Path": {"enum": ["armed", "unarmed"], "description": "armed: written into the pre-armed unnamed file and linked into place; unarmed: through a named temporary file"},
  "phase2Millis": {"type": "number", "minimum": 0},
  "probeMicros": {"type": "object", "additionalProperties": uint},
  "failedProbes": {"type": "array", "items": obj({"probe": {"type": "string"}, "reason": {"type": "string"}})},
}, required=["phase1Micros"])
u64n = int_or_null
psi_ref = {"$ref": "#/$defs/psi"}
memory_limit = obj({"effectiveLimitBytes": uint, "source": {"enum": ["cgroup", "physical"]}, "usageBytes": u64n, "headroomBytes": u64n,
                    "usageRatio": {"type": ["number", "null"], "minimum": 0}}, desc="The limit that actually kills the process and how close it was")
cgroup = obj({
  "version": {"enum": ["v1", "v2"]}, "hybrid": {"type": "boolean"}, "path": {"type": "string"}, "directory": {"type": "string"},
  "limit": u64n, "effectiveLimit": u64n, "high": u64n, "usage": u64n, "peak": u64n, "swapUsage": u64n, "swapLimit": u64n,
  "events": obj({k: u64n for k in ["low", "high", "max", "oom", "oomKill"]}, nullable=True),
  "underOom": {"type": ["boolean", "null"]},
  "stat": obj({k: u64n for k in ["anon", "file", "kernel", "sock", "shmem", "fileMapped"]}, nullable=True),
  "pressure": psi_ref,
  "missing": {"type": "array", "items": {"type": "string"}},
  "malformed": {"type": "array", "items": {"type": "string"}},
}, desc="The process's own memory cgroup")
tree_proc = obj({"pid": uint, "ppid": uint, "name": {"type": "string"}, "rssBytes": u64n, "depth": uint})
process_tree = obj({
  "method": {"enum": ["children", "scan", "sysinfo"]}, "rootPid": uint,
  "processes": {"type": "array", "items": tree_proc, "minItems": 1},
  "processCount": uint, "descendantCount": uint, "totalRssBytes": uint, "descendantsRssBytes": uint,
  "largestDescendant": {"oneOf": [tree_proc, {"type": "null"}]},
  "truncated": {"type": "boolean"}, "truncatedReason": {"type": ["string", "null"]}, "vanished": uint,
}, desc="This process and all its descendants")
analysis = obj({
  "risks": {"type": "array", "items": obj({
      "type": {"enum": ["heapNearLimit", "detachedContexts", "nativeMemoryHigh", "rssNearLimit", "cgroupOomKills", "cgroupLimitHit",
                        "memoryPressureStall", "swapInUse", "manyThreads", "openFdsHigh", "childProcessesHeavy"]},
      "severity": {"enum": ["info", "warning", "critical"]},
      "message": {"type": "string"},
      "evidence": {"type": "object", "additionalProperties": {"type": "number"}}})},
  "recommendation": {"type": "string"},
})
num_null = {"type": ["number", "null"], "minimum": 0}
sample = obj({"type": {"const": "sample"}, "t": {"type": "string"}, "epochMs": {"type": "integer"},
              "rssBytes": u64n, "swapBytes": u64n, "cgroupUsageBytes": u64n, "cgroupLimitBytes": u64n, "psiSomeAvg10": num_null,
              "heapUsedBytes": num_null, "heapTotalBytes": num_null, "heapLimitBytes": num_null, "externalBytes": num_null, "v8AgeMs": u64n},
             desc="One recorder sample (also one line of recorder-<session8>.jsonl)")
watchdog = obj({"stalledMs": uint, "rssBytes": uint, "thresholdBytes": uint, "v8FiguresAgeMs": u64n}, desc="Why the watchdog wrote this dump")
top = {
  "schemaVersion": {"const": 1},
  "trigger": {"enum": ["hard", "critical", "manual", "watchdog"]},
  "dumpNumber": {"type": "integer", "minimum": 1},
  "sessionId": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,8}$"},
  "pid": {"type": "integer", "minimum": 0},
  "processStartMs": {"type": "integer", "minimum": 0, "description": "When the writing process started, epoch ms; with pid, names the process across PID namespaces and pid reuse (absent in documents of earlier versions)"},
  "timestamp": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$"},
  "collectionComplete": {"type": "boolean"},
  "atTrigger": obj({"memoryUsage": {"$ref": "#/$defs/memoryUsage"}, "v8HeapStats": {"$ref": "#/$defs/v8HeapStats"},
                    "v8HeapSpaces": {"type": ["array", "null"], "maxItems": 32, "items": {"$ref": "#/$defs/heapSpace"}},
                    "activeResources": {"type": "object", "maxProperties": 64, "propertyNames": {"maxLength": 64},
                                        "additionalProperties": {"type": "number", "minimum": 0},
                                        "description": "process.getActiveResourcesInfo() counted by type"}},
                   required=["memoryUsage", "v8HeapStats", "v8HeapSpaces"]),
  "session": {"type": "object", "maxProperties": 64, "propertyNames": {"maxLength": 64},
              "additionalProperties": {"oneOf": [{"type": "number"}, {"type": "string", "maxLength": 1024}, {"type": "boolean"}]}},
  "suggestion": {"type": ["string", "null"]},
  "runtime": obj({"nodeVersion": {"type": "string"}, "napiVersion": {"type": ["integer", "null"]}, "platform": {"type": "string"},
                  "arch": {"type": "string"}, "addonVersion": {"type": "string"}, "appVersion": {"type": ["string", "null"]},
                  "implementation": {"enum": ["native", "js"]},
                  "fallbackReason": {"type": ["string", "null"], "description": "js only: why the native addon was not used"}},
                 required=["nodeVersion", "napiVersion", "platform", "arch", "addonVersion", "appVersion", "implementation"]),
  "inputWarnings": {"type": "array", "items": {"type": "string"}},
  "samples": {"type": "array", "maxItems": 120, "description": "The host's own recent samples, oldest first, as passed to dump()",
              "items": {"type": "object", "maxProperties": 32, "propertyNames": {"maxLength": 64}, "additionalProperties": {"type": "number"}}},
  "directory": obj({"tightenedFrom": {"type": "string", "pattern": "^[0-7]{3,4}$"}},
                   desc="Present when the diagnostics directory was group- or world-writable and was tightened to 0700 before this dump"),
  "process": process,
  "system": system,
  "memoryLimit": memory_limit,
  "cgroup": cgroup,
  "pressure": psi_ref,
  "processTree": process_tree,
  "analysis": analysis,
  "history": {"type": "array", "items": {"$ref": "#/$defs/sample"}, "maxItems": 10000},
  "watchdog": watchdog,
  "collection": collection,
}
base_required = ["schemaVersion","trigger","dumpNumber","sessionId","pid","timestamp","collectionComplete","atTrigger","session","suggestion","runtime","inputWarnings","collection"]
schema = {
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "dump.schema.json",
  "title": "memory-diagnostics-dumper dump document, schema version 1",
  "description": "Phase 1 (collectionComplete false) holds what the host passed and identity facts; phase 2 (collectionComplete true) adds process, system and collection figures. See docs/schema.md.",
  "type": "object",
  "additionalProperties": False,
  "properties": top,
  "required": base_required,
  "if": {"type": "object", "properties": {"collectionComplete": {"const": True}}},
  "then": {"required": ["process", "analysis"], "properties": {"collection": {"type": "object", "required": ["phase1Micros", "phase2Millis", "probeMicros", "failedProbes"]}}},
  "else": {"not": {"anyOf": [{"type": "object", "required": [k]} for k in ["process", "system", "memoryLimit", "cgroup", "pressure", "processTree", "analysis"]]},
           "properties": {"collection": {"type": "object", "not": {"anyOf": [{"type": "object", "required": ["phase2Millis"]}, {"type": "object", "required": ["failedProbes"]}]}}}},
  "$defs": {**defs, "sample": sample},
}
json.dump(schema, open("docs/dump.schema.json", "w"), indent=2)
open("docs/dump.schema.json", "a").write("\n")
