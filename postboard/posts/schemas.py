from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from postboard.fields import REJECT_BLANK, StorableStr, Timestamp
from postboard.patterns import NOT_BLANK_NO_NUL, Published
from postboard.posts.models import CONTENT_MAX_LENGTH, TITLE_MAX_LENGTH
from postboard.users.schemas import UserOut

Title = Annotated[
    StorableStr,
    Field(min_length=1, max_length=TITLE_MAX_LENGTH),
    REJECT_BLANK,
    Published(NOT_BLANK_NO_NUL),
]
Content = Annotated[StorableStr, Field(max_length=CONTENT_MAX_LENGTH)]


class PostBase(BaseModel):
    title: Title
    content: Content
    published: StrictBool = True


class PostCreate(PostBase):
    """The body of a create or a full replacement; `id` and `owner_id` in it are ignored."""


class Post(PostBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: Timestamp
    owner_id: int
    owner: UserOut


class PostOut(BaseModel):
    """A post as read, with its vote count; the capital `Post` key is the course's contract."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    post: Post = Field(alias="Post")
    votes: int
