-- Runs the Argo CD health checks of config/argocd against sample objects, as
-- Argo CD does: the script is a chunk with a global `obj` that returns
-- {status, message}. Usage: lua5.4 e2e/argocd/health_test.lua CONFIG_ARGOCD_DIR
local dir = arg[1] or "config/argocd"

local function check(file)
  local handle = assert(io.open(dir .. "/" .. file))
  local source = handle:read("a")
  handle:close()
  return function(object)
    local env = setmetatable({ obj = object }, { __index = _G })
    local chunk = assert(load(source, file, "t", env))
    return chunk()
  end
end

local function cond(kind, status, message)
  return { type = kind, status = status, reason = kind, message = message or "" }
end

local flow = check("flow-health.lua")
local flow_run = check("flowrun-health.lua")
local failures, total = 0, 0

local function expect(name, hs, status, message)
  total = total + 1
  local ok = hs ~= nil and hs.status == status and (message == nil or hs.message == message)
  if not ok then
    failures = failures + 1
    print(string.format("FAIL %s: got %s %q, want %s %q", name, hs and hs.status, hs and hs.message,
      status, message or "(any)"))
  else
    print("ok   " .. name .. ": " .. hs.status .. " (" .. tostring(hs.message) .. ")")
  end
end

local meta = { name = "orders", generation = 2 }

expect("flow without status", flow({ metadata = meta }), "Progressing", "Waiting for the controller")
expect("flow with an old observedGeneration",
  flow({ metadata = meta, status = { observedGeneration = 1, conditions = { cond("Ready", "True") } } }),
  "Progressing", "Waiting for the controller to observe generation 2")
expect("flow ready",
  flow({ metadata = meta, status = { observedGeneration = 2, conditions = { cond("Ready", "True", "next run at 10:00") } } }),
  "Healthy", "next run at 10:00")
expect("flow not ready",
  flow({ metadata = meta, status = { observedGeneration = 2,
    conditions = { cond("Ready", "False", "ConnectorProfile crm not found") } } }),
  "Degraded", "ConnectorProfile crm not found")
expect("flow reconciling",
  flow({ metadata = meta, status = { observedGeneration = 2,
    conditions = { cond("Ready", "Unknown"), cond("Reconciling", "True", "validating") } } }),
  "Progressing", "validating")
expect("flow stalled beats ready",
  flow({ metadata = meta, status = { observedGeneration = 2,
    conditions = { cond("Ready", "True"), cond("Stalled", "True", "invalid schedule") } } }),
  "Degraded", "invalid schedule")
expect("flow deactivated",
  flow({ metadata = meta, status = { observedGeneration = 2,
    conditions = { cond("Ready", "True"), cond("Deactivated", "True", "5 runs failed in a row") } } }),
  "Degraded", "5 runs failed in a row")
expect("flow suspended",
  flow({ metadata = meta, status = { observedGeneration = 2,
    conditions = { cond("Ready", "True"), cond("Suspended", "True") } } }),
  "Suspended", "Suspended")
expect("flow with only a false Stalled",
  flow({ metadata = meta, status = { observedGeneration = 2,
    conditions = { cond("Stalled", "False"), cond("Ready", "True", "") } } }),
  "Healthy", "Ready")
expect("flow with status but no conditions",
  flow({ metadata = meta, status = { observedGeneration = 2 } }), "Progressing")

local run_meta = { name = "orders-1", generation = 1 }
expect("run without status", flow_run({ metadata = run_meta }), "Progressing", "Waiting for the controller")
expect("run pending", flow_run({ metadata = run_meta, status = { phase = "Pending" } }), "Progressing", "Pending")
expect("run running",
  flow_run({ metadata = run_meta, status = { phase = "Running", conditions = { cond("Succeeded", "Unknown", "reading page 3") } } }),
  "Progressing", "reading page 3")
expect("run succeeded",
  flow_run({ metadata = run_meta, status = { phase = "Succeeded", conditions = { cond("Succeeded", "True", "1000 records") } } }),
  "Healthy", "1000 records")
expect("run failed with an error",
  flow_run({ metadata = run_meta, status = { phase = "Failed",
    conditions = { cond("Succeeded", "False", "run failed") },
    error = { reason = "AuthenticationFailed", message = "password authentication failed for user app" } } }),
  "Degraded", "AuthenticationFailed: password authentication failed for user app")
expect("run cancelled",
  flow_run({ metadata = run_meta, status = { phase = "Cancelled", conditions = { cond("Succeeded", "False") } } }),
  "Degraded", "Cancelled: nothing was published")
expect("run with only the condition",
  flow_run({ metadata = run_meta, status = { conditions = { cond("Succeeded", "True") } } }), "Healthy", "Succeeded")

print(string.format("%d checks, %d failed", total, failures))
os.exit(failures == 0 and 0 or 1)
