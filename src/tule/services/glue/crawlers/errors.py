"""The errors Glue answers about crawlers and classifiers, with AWS's codes and wording."""

from __future__ import annotations

from tule.errors import AwsError


def invalid_input(message: str) -> AwsError:
    return AwsError("InvalidInputException", message, 400)


def crawler_not_found(name: str) -> AwsError:
    # GetCrawler's wording; Start/Stop/Delete say "Crawler with name x does not exist" on AWS,
    # clients test the code, not the text.
    return AwsError(
        "EntityNotFoundException", f"Crawler entry with name {name} does not exist", 400
    )


def crawler_missing(name: str) -> AwsError:
    return AwsError("EntityNotFoundException", f"Crawler with name {name} does not exist", 400)


def crawler_exists(name: str) -> AwsError:
    return AwsError("AlreadyExistsException", f"Crawler with name {name} already exists", 400)


def crawler_running(name: str) -> AwsError:
    return AwsError("CrawlerRunningException", f"Crawler with name {name} has already started", 400)


def crawler_not_running(name: str) -> AwsError:
    return AwsError("CrawlerNotRunningException", f"Crawler with name {name} isn't running", 400)


def crawler_stopping(name: str) -> AwsError:
    return AwsError("CrawlerStoppingException", f"Crawler with name {name} is stopping", 400)


def classifier_not_found(name: str) -> AwsError:
    return AwsError("EntityNotFoundException", f"Classifier with name {name} does not exist", 400)


def classifier_exists(name: str) -> AwsError:
    return AwsError("AlreadyExistsException", f"Classifier with name {name} already exists", 400)
