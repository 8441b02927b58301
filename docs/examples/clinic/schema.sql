-- A small clinic application shared by two clinics (tenant column clinic_id), used by
-- docs/onboarding.md. Create it with: sqlite3 clinic.sqlite3 < schema.sql
CREATE TABLE clinics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    clinic_id INTEGER NOT NULL REFERENCES clinics (id),
    email TEXT NOT NULL,
    full_name TEXT NOT NULL,
    phone TEXT,
    forgotten_at TEXT
);
CREATE TABLE appointments (
    id INTEGER PRIMARY KEY,
    clinic_id INTEGER NOT NULL REFERENCES clinics (id),
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    starts_at TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX appointments_patient ON appointments (patient_id);

INSERT INTO clinics (id, name) VALUES (1, 'Clinique du Nord'), (2, 'Clinica del Sud');
INSERT INTO patients (id, clinic_id, email, full_name, phone) VALUES
    (1, 1, 'zoë.lefèvre@example.com', 'Zoë Lefèvre', '+33 1 23 45 67 89'),
    (2, 1, 'marc.dupont@example.com', 'Marc Dupont', '+33 1 98 76 54 32'),
    (3, 2, 'giulia.rossi@example.com', 'Giulia Rossi', '+39 06 1234 5678');
INSERT INTO appointments (clinic_id, patient_id, starts_at, reason) VALUES
    (1, 1, '2026-03-02T09:30:00Z', 'Persistent cough since January'),
    (1, 1, '2026-04-14T16:00:00Z', 'Follow-up, chest X-ray results'),
    (1, 2, '2026-03-05T11:00:00Z', 'Annual check-up'),
    (2, 3, '2026-03-07T10:15:00Z', 'Sprained ankle');
