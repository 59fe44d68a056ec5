# Der Kundenbericht auf Deutsch. Jede Nachricht hier hat ihr Gegenstück in en.ftl (ein Unit-Test
# vergleicht beide); die Variablen sind die getypten Kennzahlen des Berichts.

## Die Sätze der Zusammenfassung. $period ist "month" oder "days" (dann ist $days die Zahl der Tage).

runs-none = { $period ->
        [month] Im letzten Monat
       *[days] In den letzten { $days } Tagen
    } lief keine Wartung auf { $devices ->
        [one] Ihrem 1 Gerät
       *[other] Ihren { $devices } Geräten
    }.
runs-all-ok = { $period ->
        [month] Im letzten Monat
       *[days] In den letzten { $days } Tagen
    } haben wir { $devices ->
        [one] Ihr 1 Gerät
       *[other] Ihre { $devices } Geräte
    } { $runs ->
        [one] einmal geprüft; alles war in Ordnung.
       *[other] { $runs }-mal geprüft; jede Prüfung fand alles in Ordnung.
    }
runs-all-problems = { $period ->
        [month] Im letzten Monat
       *[days] In den letzten { $days } Tagen
    } haben wir { $devices ->
        [one] Ihr 1 Gerät
       *[other] Ihre { $devices } Geräte
    } { $runs ->
        [one] einmal geprüft; dabei fanden wir etwas, dem wir nachgegangen sind.
       *[other] { $runs }-mal geprüft; alle { $runs } Prüfungen fanden etwas, dem wir nachgegangen sind.
    }
runs-mixed = { $period ->
        [month] Im letzten Monat
       *[days] In den letzten { $days } Tagen
    } haben wir { $devices ->
        [one] Ihr 1 Gerät
       *[other] Ihre { $devices } Geräte
    } { $runs }-mal geprüft; { $runs_ok ->
        [one] 1 Prüfung fand
       *[other] { $runs_ok } Prüfungen fanden
    } alles in Ordnung und { $runs_with_problems ->
        [one] 1 fand
       *[other] { $runs_with_problems } fanden
    } etwas, dem wir nachgegangen sind.
no-data = { $period ->
        [month] Für den letzten Monat
       *[days] Für die letzten { $days } Tage
    } liegen uns keine Wartungsergebnisse für { $devices ->
        [0] Ihre Geräte
        [one] Ihr 1 Gerät
       *[other] Ihre { $devices } Geräte
    } vor; dieser Bericht kann daher nicht sagen, wie es { $devices ->
        [one] ihm
       *[other] ihnen
    } geht.
no-data-contact = Wenn Sie in diesem Zeitraum eine Wartung erwartet haben, melden Sie sich bitte bei uns: Wir finden heraus, warum.
updates-installed = Wir haben { $updates_installed ->
        [one] 1 Update
       *[other] { $updates_installed } Updates
    } installiert, davon { $security_installed ->
        [one] 1 Sicherheitsupdate
       *[other] { $security_installed } Sicherheitsupdates
    }{ $reboots ->
        [0] {""}
        [one] , und 1 Gerät neu gestartet, um sie abzuschließen
       *[other] , und { $reboots } Geräte neu gestartet, um sie abzuschließen
    }.
security-pending-window = { $pending_security ->
        [one] 1 Sicherheitsupdate wartet
       *[other] { $pending_security } Sicherheitsupdates warten
    } auf die Installation; Ihr nächstes Wartungsfenster ist { $window }.
security-pending-no-window = { $pending_security ->
        [one] 1 Sicherheitsupdate wartet
       *[other] { $pending_security } Sicherheitsupdates warten
    } auf die Installation; ein Wartungsfenster ist noch nicht geplant.
updates-pending = { $pending_updates ->
        [one] 1 Update wartet
       *[other] { $pending_updates } Updates warten
    } auf die Installation.
up-to-date = Ihre Software ist auf dem neuesten Stand; es waren keine Updates nötig.
backups-not-monitored = Datensicherungen sind noch nicht Teil dieses Service.
backups-verified = Datensicherungen wurden { $backups_verified ->
        [one] einmal
       *[other] { $backups_verified }-mal
    } geprüft; die jüngste gute Sicherung ist { $last_good_backup_age_hours } Stunden alt.
backups-unconfirmed = Wir konnten keine aktuelle, vollständige Datensicherung bestätigen: Wir gehen dem nach.
fixed-automatically = { $fixed_automatically ->
        [one] 1 Problem wurde gefunden und automatisch behoben, bevor es Sie betreffen konnte.
       *[other] { $fixed_automatically } Probleme wurden gefunden und automatisch behoben, bevor sie Sie betreffen konnten.
    }
nothing-to-decide = Nichts erfordert Ihre Entscheidung.
needs-decision = Ihre Entscheidung ist gefragt: { $decisions }.
decision-disk-full-in = der Datenträger { $mount } auf { $host } ist in etwa { $days_to_full ->
        [one] 1 Tag
       *[other] { $days_to_full } Tagen
    } voll
decision-disk-no-history = der Datenträger { $mount } auf { $host } ist zu { $used_percent } belegt (noch zu wenig Verlauf, um zu sagen, wann er voll ist)
decision-disk-used = der Datenträger { $mount } auf { $host } ist zu { $used_percent } belegt
decision-cert-expired = das Zertifikat von { $name } ist abgelaufen
decision-cert-expires = das Zertifikat von { $name } läuft in { $days_left ->
        [one] 1 Tag
       *[other] { $days_left } Tagen
    } ab
list-separator = ;{" "}

## Befunde eines Geräts.

issue-unknown = { $check }: konnte nicht geprüft werden (wir gehen dem nach)
issue-summary = { $check }: { $summary }

## Bereiche und ihre Ampeln.

area-patching = Updates
area-backups = Datensicherung
area-disks = Speicherplatz
area-services = Dienste
light-green = Gut
light-amber = Hinweis
light-red = Handlungsbedarf
light-unknown = Nicht prüfbar
light-grey = Nicht überwacht
note-not-monitored = nicht überwacht
note-could-not-check = konnte nicht geprüft werden
note-no-results = keine Ergebnisse in diesem Zeitraum
note-security-overdue = Sicherheitsupdates überfällig auf { $overdue_security_hosts ->
        [one] 1 Gerät
       *[other] { $overdue_security_hosts } Geräten
    }
note-security-waiting-window = { $pending_security ->
        [one] 1 Sicherheitsupdate wartet
       *[other] { $pending_security } Sicherheitsupdates warten
    } auf die Installation im nächsten Wartungsfenster
note-security-waiting-no-window = { $pending_security ->
        [one] 1 Sicherheitsupdate wartet
       *[other] { $pending_security } Sicherheitsupdates warten
    } auf die Installation; kein Wartungsfenster geplant
note-updates-waiting-window = { $pending_updates ->
        [one] 1 Update wartet
       *[other] { $pending_updates } Updates warten
    } auf die Installation im nächsten Wartungsfenster
note-updates-waiting-no-window = { $pending_updates ->
        [one] 1 Update wartet
       *[other] { $pending_updates } Updates warten
    } auf die Installation; kein Wartungsfenster geplant
note-patching-look = eine Update-Prüfung muss angesehen werden
note-up-to-date = auf dem neuesten Stand
note-backup-age = letzte gute Sicherung { $last_good_backup_age_hours } Stunden alt
note-no-good-backup = keine gute Sicherung bestätigt
note-plenty-of-room = genug Platz
note-disks-attention = { $disks ->
        [one] 1 Datenträger braucht Aufmerksamkeit
       *[other] { $disks } Datenträger brauchen Aufmerksamkeit
    }
note-service-down = ein Dienst ist ausgefallen
note-service-look = ein Dienst muss angesehen werden
note-service-running = laufen
note-service-unknown = ein Dienst konnte nicht geprüft werden
band-good = gut
band-fair = befriedigend
band-attention = braucht Aufmerksamkeit

## Gerätezustände, wie der Kunde sie liest.

state-skipped = keine Ergebnisse
state-ok = in Ordnung
state-changed = geändert
state-warning = Warnung
state-unknown = nicht prüfbar
state-critical = kritisch
state-failed = fehlgeschlagen
state-unreachable = nicht erreichbar

## Was wir getan haben.

action-updated = { $package } aktualisiert: { $from } -> { $to }
action-new-package = neu
action-rebooted = Gerät neu gestartet
action-rebooted-seconds = Gerät neu gestartet (nach { $seconds } s wieder da)
action-service-restarted = Dienst { $unit } neu gestartet
action-fixed = automatisch behoben: { $check }

## Die Seite.

title = Wartungsbericht: { $client }
from-msp = Wartungsbericht von { $msp }
period-range = { $from } bis { $to } ({ $timezone })
health = Zustand: { $band }
health-no-data = keine Daten für diesen Zeitraum
health-text = Zustand: { $score } / 100 ({ $band })
health-text-no-data = Zustand: keine Ergebnisse in diesem Zeitraum, daher keine Bewertung
key-figures = Kennzahlen
fig-runs = Wartungsläufe
fig-runs-value = { $runs } ({ $runs_ok } ohne Befund, { $runs_with_problems } mit Befund)
fig-installed = Installierte Updates
fig-installed-value = { $updates_installed } ({ $security_installed } Sicherheit, { $other_installed } andere)
fig-installed-text = { $updates_installed } ({ $security_installed } Sicherheit)
fig-pending = Ausstehende Updates
fig-pending-value = { $pending_updates } ({ $pending_security } Sicherheit; überfällig auf { $overdue_security_hosts ->
        [one] 1 Gerät
       *[other] { $overdue_security_hosts } Geräten
    })
fig-pending-text = { $pending_updates } ({ $pending_security } Sicherheit)
fig-reboots = Neustarts
fig-backups = Geprüfte Sicherungen
fig-backups-last = ; letzte gute vor { $hours } Std.
fig-fixed = Automatisch behoben
fig-certs = Zertifikate, die in 30 Tagen ablaufen
fig-certs-none = keine
fig-cert = { $name } ({ $days_left } Tage; geprüft von { $hosts })
disks-to-watch = Datenträger im Blick
col-device = Gerät
col-disk = Datenträger
col-used = Belegt
col-full-in = Voll in
col-status = Zustand
col-fullest-disk = Vollster Datenträger
col-updates-waiting = Wartende Updates
col-last-backup = Letzte Sicherung
full-in-days = etwa { $days } Tagen
full-in-text = voll in etwa { $days } Tagen
full-no-history = noch zu wenig Verlauf
full-not-filling = füllt sich nicht
disk-used-text = { $host } { $mount }: { $used_percent } belegt, { $full }
your-devices = Ihre Geräte
device-updates = { $pending } ({ $security } Sicherheit)
device-backup-age = vor { $hours } Std.
device-text-disk = Platte
device-text-updates = Updates
what-we-did = Was wir getan haben
checks-only = Nur Prüfungen: Es musste nichts geändert werden.
and-more = und { $more } weitere
next-window = Nächstes Wartungsfenster: { $window }.
next-window-none = keines geplant
questions = Fragen? Antworten Sie auf diese E-Mail oder wenden Sie sich an { $msp }.
window = { $day }, { $start }–{ $end } Uhr ({ $timezone })
subject = Wartungsbericht für { $client }, { $from } bis { $to }: { $score }
subject-score = { $score }/100
subject-no-data = keine Ergebnisse in diesem Zeitraum

## Ergebnisse älter als `retention.results` bleiben als Tageszusammenfassungen je Prüfung.
history-summarised = Ergebnisse vor dem { $since } sind als Tageszusammenfassungen gespeichert: Die Prüfungen und Verläufe oben berücksichtigen sie, die Wartungsläufe werden ab dem { $since } gezählt.
history-summarised-all = Die Ergebnisse dieses Zeitraums sind nur als Tageszusammenfassungen gespeichert: Die Prüfungen und Verläufe oben stammen daraus, die Zahl der Wartungsläufe ist nicht mehr bekannt.

## Der Patch-Abschnitt (Kunden mit einer Patch-Richtlinie). $share ist ein abgerundeter Prozentwert.

patch-title = Patches
patch-no-data = Für Ihre Server wurden noch keine Patchdaten erfasst; wie aktuell sie sind, können wir daher noch nicht sagen.
patch-share = Anteil Ihrer Server, die am Ende des Zeitraums vollständig gepatcht waren: { $share } (von { $hosts } mit Patchdaten; zurückgestellte Updates ausgenommen).
patch-sla-security = { $met } von { $due } in diesem Zeitraum fälligen Sicherheitsupdates { $met ->
        [one] wurde
       *[other] wurden
    } innerhalb der vereinbarten { $days } Tage installiert.
patch-sla-other = { $met } von { $due } in diesem Zeitraum fälligen weiteren Updates { $met ->
        [one] wurde
       *[other] wurden
    } innerhalb der vereinbarten { $days } Tage installiert.
patch-overdue = { $count ->
        [one] Ein Update ist
       *[other] { $count } Updates sind
    } über der vereinbarten Frist: { $packages }.
patch-waiting = { $count ->
        [one] Ein Update wartet
       *[other] { $count } Updates warten
    } auf eine Entscheidung, bevor wir { $count ->
        [one] es
       *[other] sie
    } installieren: { $packages }.
patch-held-decision = { $package } ist per Entscheidung zurückgestellt ({ $who }, { $date }): { $reason }.
patch-held-policy = { $package } ist laut vereinbarter Wartungsrichtlinie zurückgestellt und wird nicht automatisch installiert.
