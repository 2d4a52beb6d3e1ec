import json, sys
draft = json.load(open('/tmp/controls-draft.json'))
controls_path = sys.argv[1]
c = json.load(open(controls_path))
rules = set(c['rules'])
# Proposal id -> the rule that implements it (same id unless renamed).
implemented = {p['id']: p['id'] for p in draft['proposals'] if p['id'] in rules}
implemented['auth.api-key-only'] = 'auth.appsync-api-key-only'
# Extensions made to existing rules (the proposal id is the rule's id).
extended = {'enc.api-cache-unencrypted', 'log.api-stage-without-access-logs',
            'rate.api-stage-without-throttling', 'log.api-stage-without-execution-logs'} & rules
not_done = {
 'net.function-unrestricted-egress': 'not covered: egress to the internet is how most functions reach AWS APIs; a rule would flag nearly every VPC function (opt-in candidate)',
 'net.function-sg-ingress': 'not covered: Palisade flags ingress open to the world (net.function-open-security-group); any ingress at all is not a baseline finding',
 'enc.dynamodb-without-cmk': 'not covered by choice: enc.dynamodb-default-key accepts the AWS-managed key (encryption at rest is on); a customer-managed key is a data-classification decision',
 'enc.s3-bucket-without-kms': 'not covered by choice: SSE-S3 (AES256) is encryption at rest; enc.s3-bucket-without-encryption requires a configuration, a KMS key is a data-classification decision',
 'iam.kms-key-policy-unrestricted-grants': 'not covered: a key policy statement about kms:CreateGrant for AWS resources is an organization hardening control, not a serverless one',
 'iam.lambda-permission-any-api-route': 'not covered yet: needs reading the SourceArn inside Fn::Sub/Fn::Join (planned)',
 'iam.privilege-escalation': 'partly covered: escalation actions on Resource "*" are iam.wildcard-resource-write; combinations on named resources need a graph analysis (planned)',
 'log.log-group-short-retention': 'not covered by choice: a minimum retention is an organization setting; log.log-group-without-retention requires one',
 'net.api-without-waf': 'not covered yet: AppSync APIs have no waf fact (planned)',
 'auth.function-url-public': 'covered for AWS::Lambda::Url and SAM FunctionUrlConfig; the permission of a NONE-auth URL is judged with its URL',
 'auth.http-api-route-without-authorizer': 'not covered yet: quick-create HTTP APIs (Target on the Api) (planned)',
}
checks = []
counts = {}
for e in draft['entries']:
    if not e['in_scope']:
        continue
    peer = {'control_tower': 'control-tower'}.get(e['peer'], e['peer'])
    item = {'peer': peer, 'id': e['id'], 'title': e['title']}
    covered = [r for r in e.get('covered_by') or [] if r in rules]
    prop = e.get('proposal')
    if isinstance(prop, dict):
        prop = prop.get('id')
    note = e.get('note')
    status = e['status']
    if status == 'not-applicable':
        item['reason'] = 'not applicable: ' + (note or e.get('scope_reason') or '')
    else:
        rs = list(covered)
        if prop and prop in implemented:
            rs.append(implemented[prop])
        elif prop and prop in extended and prop not in rs:
            rs.append(prop)
        rs = sorted(set(rs))
        if rs:
            item['rules'] = rs
            if note and status != 'covered' and not (prop and (prop in implemented or prop in extended)):
                item['note'] = 'partial: ' + note
            elif note:
                item['note'] = note
        else:
            item['reason'] = not_done.get(prop, 'not covered yet' + (': ' + note if note else ''))
    checks.append(item)
    k = (peer, 'rules' in item)
    counts[k] = counts.get(k, 0) + 1
seen = {}
for item in checks:
    seen.setdefault((item['peer'], item['id']), item)
checks = list(seen.values())
checks.sort(key=lambda x: (x['peer'], x['id']))
c['checks'] = checks
json.dump(c, open(controls_path, 'w'), indent=2)
open(controls_path, 'a').write('\n')
for k, v in sorted(counts.items()):
    print(k, v)
print('unmatched rule ids:', sorted({r for e in draft['entries'] for r in (e.get('covered_by') or []) if r not in rules}))
