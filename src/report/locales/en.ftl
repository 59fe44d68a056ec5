# The client report's words in English. Every message here has its twin in de.ftl (a unit test
# compares the two); variables are the report's typed figures, numbers are formatted for the language
# by tended before Fluent sees them only where the message says so (dates, percentages).

## The summary's sentences. $period is "month" or "days" (then $days is the number of days).

runs-none = No maintenance ran on your { $devices ->
        [one] 1 device
       *[other] { $devices } devices
    } in { $period ->
        [month] last month
       *[days] the last { $days } days
    }.
runs-all-ok = In { $period ->
        [month] last month
       *[days] the last { $days } days
    } we checked your { $devices ->
        [one] 1 device
       *[other] { $devices } devices
    } { $runs ->
        [one] once; it found everything in order.
       *[other] { $runs } times; every check found everything in order.
    }
runs-all-problems = In { $period ->
        [month] last month
       *[days] the last { $days } days
    } we checked your { $devices ->
        [one] 1 device
       *[other] { $devices } devices
    } { $runs ->
        [one] once; it found something we followed up.
       *[other] { $runs } times; all { $runs } found something we followed up.
    }
runs-mixed = In { $period ->
        [month] last month
       *[days] the last { $days } days
    } we checked your { $devices ->
        [one] 1 device
       *[other] { $devices } devices
    } { $runs } times; { $runs_ok ->
        [one] 1 check
       *[other] { $runs_ok } checks
    } found everything in order and { $runs_with_problems } found something we followed up.
no-data = We have no maintenance results for { $devices ->
        [0] your devices
        [one] your 1 device
       *[other] your { $devices } devices
    } in { $period ->
        [month] last month
       *[days] the last { $days } days
    }, so this report cannot say how { $devices ->
        [one] it is
       *[other] they are
    } doing.
no-data-contact = If you expected maintenance in this period, please contact us: we will find out why.
updates-installed = We installed { $updates_installed ->
        [one] 1 update
       *[other] { $updates_installed } updates
    }, { $security_installed } of them security fixes{ $reboots ->
        [0] {""}
        [one] , and restarted 1 device to complete them
       *[other] , and restarted { $reboots } devices to complete them
    }.
security-pending-window = { $pending_security ->
        [one] 1 security update is
       *[other] { $pending_security } security updates are
    } waiting to be installed; your next maintenance window is { $window }.
security-pending-no-window = { $pending_security ->
        [one] 1 security update is
       *[other] { $pending_security } security updates are
    } waiting to be installed; no maintenance window is planned yet.
updates-pending = { $pending_updates ->
        [one] 1 update is
       *[other] { $pending_updates } updates are
    } waiting to be installed.
up-to-date = Your software is up to date; no updates were needed.
backups-not-monitored = Backups are not part of this service yet.
backups-verified = Backups were verified { $backups_verified ->
        [one] once
       *[other] { $backups_verified } times
    }; the most recent good backup is { $last_good_backup_age_hours } hours old.
backups-unconfirmed = We could not confirm a recent, complete backup: we are looking into it.
fixed-automatically = { $fixed_automatically ->
        [one] 1 problem was found and fixed automatically before it could affect you.
       *[other] { $fixed_automatically } problems were found and fixed automatically before they could affect you.
    }
nothing-to-decide = Nothing needs your decision.
needs-decision = Needs your decision: { $decisions }.
decision-disk-full-in = the disk { $mount } on { $host } will be full in about { $days_to_full ->
        [one] 1 day
       *[other] { $days_to_full } days
    }
decision-disk-no-history = the disk { $mount } on { $host } is { $used_percent } full (not enough history yet to say when it will be full)
decision-disk-used = the disk { $mount } on { $host } is { $used_percent } full
decision-cert-expired = the certificate of { $name } has expired
decision-cert-expires = the certificate of { $name } expires in { $days_left ->
        [one] 1 day
       *[other] { $days_left } days
    }
list-separator = ;{" "}

## A device's findings.

issue-unknown = { $check }: could not be checked (we are looking into it)
issue-summary = { $check }: { $summary }

## Areas and their lights.

area-patching = Patching
area-backups = Backups
area-disks = Disk space
area-services = Services
light-green = Good
light-amber = Attention
light-red = Action needed
light-unknown = Could not check
light-grey = Not monitored
note-not-monitored = not monitored
note-could-not-check = could not be checked
note-no-results = no results in this period
note-security-overdue = security updates overdue on { $overdue_security_hosts ->
        [one] 1 device
       *[other] { $overdue_security_hosts } devices
    }
note-security-waiting-window = { $pending_security ->
        [one] 1 security update
       *[other] { $pending_security } security updates
    } waiting to be installed in the next maintenance window
note-security-waiting-no-window = { $pending_security ->
        [one] 1 security update
       *[other] { $pending_security } security updates
    } waiting to be installed; no maintenance window is planned
note-updates-waiting-window = { $pending_updates ->
        [one] 1 update
       *[other] { $pending_updates } updates
    } waiting to be installed in the next maintenance window
note-updates-waiting-no-window = { $pending_updates ->
        [one] 1 update
       *[other] { $pending_updates } updates
    } waiting to be installed; no maintenance window is planned
note-patching-look = a patching check needs a look
note-up-to-date = up to date
note-backup-age = last good backup { $last_good_backup_age_hours } hours old
note-no-good-backup = no good backup confirmed
note-plenty-of-room = plenty of room
note-disks-attention = { $disks ->
        [one] 1 disk needs attention
       *[other] { $disks } disks need attention
    }
note-service-down = a service is down
note-service-look = a service needs a look
note-service-running = running
note-service-unknown = a service could not be checked
band-good = good
band-fair = fair
band-attention = needs attention

## Device states as the client reads them (unknown is not "down").

state-skipped = no results
state-ok = ok
state-changed = changed
state-warning = warning
state-unknown = could not check
state-critical = critical
state-failed = failed
state-unreachable = unreachable

## What we did.

action-updated = updated { $package } { $from } -> { $to }
action-new-package = new
action-rebooted = restarted the machine
action-rebooted-seconds = restarted the machine (back in { $seconds }s)
action-service-restarted = restarted the service { $unit }
action-fixed = fixed automatically: { $check }

## The page.

title = Maintenance report: { $client }
from-msp = Maintenance report from { $msp }
period-range = { $from } to { $to } ({ $timezone })
health = health: { $band }
health-no-data = no data for this period
health-text = Health: { $score } / 100 ({ $band })
health-text-no-data = Health: no results in this period, so no score
key-figures = Key figures
fig-runs = Maintenance runs
fig-runs-value = { $runs } ({ $runs_ok } fine, { $runs_with_problems } with findings)
fig-installed = Updates installed
fig-installed-value = { $updates_installed } ({ $security_installed } security, { $other_installed } other)
fig-installed-text = { $updates_installed } ({ $security_installed } security)
fig-pending = Updates pending
fig-pending-value = { $pending_updates } ({ $pending_security } security; overdue on { $overdue_security_hosts ->
        [one] 1 device
       *[other] { $overdue_security_hosts } devices
    })
fig-pending-text = { $pending_updates } ({ $pending_security } security)
fig-reboots = Restarts
fig-backups = Backups verified
fig-backups-last = ; last good one { $hours } h old
fig-fixed = Fixed automatically
fig-certs = Certificates expiring within 30 days
fig-certs-none = none
fig-cert = { $name } ({ $days_left } days; checked from { $hosts })
disks-to-watch = Disks to watch
col-device = Device
col-disk = Disk
col-used = Used
col-full-in = Full in
col-status = Status
col-fullest-disk = Fullest disk
col-updates-waiting = Updates waiting
col-last-backup = Last backup
full-in-days = about { $days } days
full-in-text = full in about { $days } days
full-no-history = not enough history yet
full-not-filling = not filling up
disk-used-text = { $host } { $mount }: { $used_percent } used, { $full }
your-devices = Your devices
device-updates = { $pending } ({ $security } security)
device-backup-age = { $hours } h ago
device-text-disk = disk
device-text-updates = updates
what-we-did = What we did
checks-only = Checks only: nothing needed changing.
and-more = and { $more } more
next-window = Next maintenance window: { $window }.
next-window-none = none planned
questions = Questions? Reply to this mail or contact { $msp }.
window = { $day } { $start }-{ $end } ({ $timezone })
subject = Maintenance report for { $client }, { $from } to { $to }: { $score }
subject-score = { $score }/100
subject-no-data = no results in this period

## Results older than `retention.results` are kept as daily summaries per check.
history-summarised = Results before { $since } are kept as daily summaries: the checks and trends above include them, while runs are counted from { $since } on.
history-summarised-all = The results of this period are kept as daily summaries only: the checks and trends above come from them, but the number of runs is no longer known.

## The patch section (clients with a patch policy). $share is a percentage, floored.

patch-title = Patching
patch-no-data = No patch data has been recorded for your servers yet, so we cannot say yet how up to date they are.
patch-share = At the end of the period { $share } of your servers were fully patched ({ $hosts } with patch data; held updates aside).
patch-sla-security = { $met } of { $due } security { $due ->
        [one] update
       *[other] updates
    } due in this period { $met ->
        [one] was
       *[other] were
    } installed within the agreed { $days } days.
patch-sla-other = { $met } of { $due } other { $due ->
        [one] update
       *[other] updates
    } due in this period { $met ->
        [one] was
       *[other] were
    } installed within the agreed { $days } days.
patch-overdue = { $count ->
        [one] One update is
       *[other] { $count } updates are
    } past the agreed time: { $packages }.
patch-waiting = { $count ->
        [one] One update waits
       *[other] { $count } updates wait
    } for a decision before we install { $count ->
        [one] it
       *[other] them
    }: { $packages }.
patch-held-decision = { $package } is held by decision ({ $who }, { $date }): { $reason }.
patch-held-policy = { $package } is held by the agreed maintenance policy and is not installed automatically.
