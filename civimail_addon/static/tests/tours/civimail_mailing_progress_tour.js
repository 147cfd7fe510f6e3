/** @odoo-module **/
/**
 * The mailing form while CiviMail sends (tests/test_tour.py prepares the
 * mailing): Paused in the status bar, one progress bar instead of the host's
 * banners, the send-limit wait in the user's time zone, kept after Resume,
 * and the failed count opening the failed recipients.
 */
import { registry } from "@web/core/registry";

function waitNoteShowsTheSubjectTime() {
    // The test put the time the user should read (their zone) at the end of the subject.
    const subject = document.querySelector(".o_field_widget[name=subject]");
    const expected = (subject.querySelector("input")?.value || subject.textContent).trim();
    const time = expected.split(" ").pop();
    // The date comes before the time when the wait ends on another day.
    const note = document.querySelector("div[name=civimail_wait]").textContent.trim();
    if (!note.startsWith("Waiting for send limit until ") || !note.endsWith(` ${time}`)) {
        throw new Error(`The wait reads "${note}", not until ${time}`);
    }
}

registry.category("web_tour.tours").add("civimail_mailing_progress_tour", {
    steps: () => [
        {
            content: "The status bar says Paused",
            trigger: '.o_statusbar_status .o_arrow_button_current:contains("Paused")',
        },
        {
            content: "The host's banners give way to CiviMail's progress",
            trigger: ".o_form_view:not(:has(.o_mails_scheduled)):not(:has(.o_mails_sent))",
        },
        {
            content: "One progress bar: 2 of 3 recipients processed",
            trigger: ".o_civimail_progress .o_progressbar:contains(2):contains(3)",
        },
        {
            content: "Paused in the progress banner too",
            trigger: ".o_civimail_progress .o_civimail_paused",
        },
        {
            content: "The send-limit wait, in the user's time zone",
            trigger: "div[name=civimail_wait]",
            run: waitNoteShowsTheSubjectTime,
        },
        {
            content: "Resume",
            trigger: "button[name=action_civimail_resume]",
            run: "click",
        },
        {
            content: "Sending again",
            trigger: '.o_statusbar_status .o_arrow_button_current:contains("Sending")',
        },
        {
            content: "Still waiting for the send limit after Resume",
            trigger: "div[name=civimail_wait]",
            run: waitNoteShowsTheSubjectTime,
        },
        {
            content: "Open the failed recipients from the progress",
            trigger: ".o_civimail_progress button.o_civimail_failed",
            run: "click",
        },
        {
            content: "The failed recipient is listed",
            trigger: '.o_list_renderer .o_data_row:contains("failed.reader@example.com")',
        },
    ],
});
