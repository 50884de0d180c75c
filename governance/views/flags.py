"""Flag review for managers: the team's flags, and one flag's evidence, history and decision form."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from governance.exceptions import FlagReplyRefused, SelfReviewRefused
from governance.models import Flag, FlagReview
from governance.selectors.access import teams_managed_by, user_manages_team
from governance.selectors.flags import (
    chart_rows,
    flag_chart,
    flag_detail,
    flag_groups,
    flags_for_team,
    flags_related,
    flags_with_team,
)
from governance.selectors.teams import teams_all


class FlagReviewForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            (FlagReview.Action.ACKNOWLEDGE, "Acknowledge - seen, will follow up"),
            (FlagReview.Action.DISMISS, "Dismiss - the usage is legitimate"),
            (FlagReview.Action.CONFIRM, "Confirm - this is usage chasing"),
            (FlagReview.Action.COMMENT, "Comment only"),
        ],
        widget=forms.RadioSelect,
        label="Decision",
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
        label="Comment",
        help_text="The person flagged sees this comment.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == FlagReview.Action.COMMENT and not (cleaned.get("comment") or "").strip():
            self.add_error("comment", "Write the comment to add.")
        return cleaned


def _reviewable_flag(request: HttpRequest, flag_id: int) -> Flag:
    flag = get_object_or_404(flags_with_team(), pk=flag_id)
    if not user_manages_team(user=request.user, team=flag.team):
        raise Http404("not found")
    return flag


@login_required
def team_flags(request: HttpRequest, slug: str) -> HttpResponse:
    """All of a team's flags, open first-class, reviewed ones with their decision."""
    team = get_object_or_404(teams_all(), slug=slug)
    if not user_manages_team(user=request.user, team=team):
        raise Http404("not found")
    flags = flags_for_team(team=team)
    return render(
        request,
        "governance/flag_list.html",
        {
            "nav": "teams",
            "team": team,
            "flags": flags,
            "groups": flag_groups(flags),
            "teams": teams_managed_by(user=request.user).order_by("slug"),
        },
    )


@login_required
def flag_review(request: HttpRequest, flag_id: int) -> HttpResponse:
    """GET: the flag's evidence and history. POST: record a decision with a comment (audited)."""
    flag = _reviewable_flag(request, flag_id)
    form = FlagReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        from governance.services.flags import flag_review as flag_review_service

        try:
            flag_review_service(
                flag=flag,
                reviewer=request.user,
                action=form.cleaned_data["action"],
                comment=form.cleaned_data["comment"].strip(),
            )
        except SelfReviewRefused as exc:
            form.add_error(None, exc.message)
            status = 403
        else:
            messages.success(request, "Your review is recorded; the person flagged can read your comment.")
            return redirect(reverse("governance:flag_review", args=[flag.pk]))
    else:
        status = 400 if request.method == "POST" else 200
    view = flag_detail(flag_id=flag.pk)
    return render(
        request,
        "governance/flag_review.html",
        {
            "nav": "teams",
            "flag": view,
            "team": flag.team,
            "form": form,
            **_explained(flag, view),
        },
        status=status,
    )


class FlagReplyForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
        label="Your reply",
        help_text="Your team's managers read this next to the flag.",
    )


@login_required
def my_flag(request: HttpRequest, flag_id: int) -> HttpResponse:
    """The flagged person's own view of a flag: why, what they can do, the chart, the example calls and
    the history; POST: their reply (audited). Anyone else's flag is a 404."""
    flag = get_object_or_404(flags_with_team(), pk=flag_id, user=request.user)
    form = FlagReplyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            from governance.services.flags import flag_reply

            try:
                flag_reply(flag=flag, author=request.user, body=form.cleaned_data["body"])
            except (FlagReplyRefused, ValueError) as exc:
                form.add_error("body", getattr(exc, "message", str(exc)))
            else:
                messages.success(request, "Your reply is recorded; your team's managers can read it.")
                return redirect(reverse("governance:my_flag", args=[flag.pk]))
        status = 400
    view = flag_detail(flag_id=flag.pk)
    return render(
        request,
        "governance/flag_mine.html",
        {
            "nav": "me",
            "flag": view,
            "team": flag.team,
            "form": form,
            **_explained(flag, view),
        },
        status=status,
    )


def _explained(flag: Flag, view) -> dict:
    chart = flag_chart(flag=flag)
    return {"chart": chart, "chart_rows": chart_rows(chart), "related": flags_related(flag=view)}
